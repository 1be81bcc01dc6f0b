-- Recompute the households and polygon of every grid of a plan from its assignment: a grid's
-- polygon is the union of its buildings' cells (which tile the community). Dedicated grids keep
-- their drawn polygon.
UPDATE grid g
SET households = coalesce(s.households, 0),
    geom = CASE WHEN g.kind = 'dedicated' THEN g.geom ELSE s.geom END
FROM (
    SELECT g2.id,
           sum(a.households) AS households,
           ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_UnaryUnion(ST_Collect(a.cell))), 3)) AS geom
    FROM grid g2 LEFT JOIN grid_assignment a ON a.grid_id = g2.id
    WHERE g2.plan_id = :plan
    GROUP BY g2.id
) s
WHERE g.id = s.id
