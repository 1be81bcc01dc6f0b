-- The grids of a community's active plan with their figures (the last level of the drill-down).
WITH g AS (
    SELECT gr.id, gr.code, gr.name, gr.kind FROM grid gr JOIN grid_plan p ON p.id = gr.plan_id AND p.status = 'active'
    WHERE gr.community_code = :code
), d AS (
    SELECT a.grid_id, dw.id, dw.use FROM grid_assignment a JOIN g ON g.id = a.grid_id
    JOIN dwelling dw ON dw.building_id = a.building_id AND (a.part = '' OR part_covers(a.part, dw.unit, dw.floor))
)
SELECT g.code, coalesce(g.name, g.code) AS name, 'grid' AS level, 1 AS grids,
       (SELECT count(*) FILTER (WHERE use <> 'commercial') FROM d WHERE d.grid_id = g.id)::int AS households,
       (SELECT count(*) FROM d WHERE d.grid_id = g.id)::int AS dwellings,
       (SELECT count(*) FROM person p JOIN d ON d.id = p.dwelling_id WHERE d.grid_id = g.id AND p.status = 'active')::int
           AS residents,
       1 AS communities_with_data
FROM g ORDER BY g.code
