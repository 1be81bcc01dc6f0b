-- Vector tile layer `grids`: the grids (网格) of the active plans, or of plan :plan when given.
-- Binds: :z, :x, :y, :tol (see tile_communities.sql), :plan (grid_plan.id or NULL = active plans).
-- households: the grid's own count, else the sum of its assignments.
SELECT ST_AsMVT(t, 'grids', 4096, 'geom', 'fid')
FROM (
    SELECT g.id AS fid,
           g.id,
           g.code,
           g.name,
           g.kind,
           coalesce(g.households,
                    (SELECT sum(a.households)::int FROM grid_assignment a WHERE a.grid_id = g.id)) AS households,
           g.community_code,
           g.plan_id,
           ST_AsMVTGeom(
               CASE WHEN :z < 14 THEN ST_SimplifyPreserveTopology(ST_Transform(g.geom, 3857), :tol)
                    ELSE ST_Transform(g.geom, 3857) END,
               ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom
    FROM grid g
    JOIN grid_plan p ON p.id = g.plan_id
    WHERE g.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.015625), 4490)
      AND CASE WHEN CAST(:plan AS integer) IS NULL THEN p.status = 'active' ELSE p.id = :plan END
) AS t
WHERE t.geom IS NOT NULL;
