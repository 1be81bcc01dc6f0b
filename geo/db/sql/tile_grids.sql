-- Vector tile layer `grids`: the grids (网格) of the active plans, or of plan :plan when given; from z12.
-- Binds and encoding: see tile_communities.sql (linear lon/lat tile box); :plan is a grid_plan id or NULL (the active plans).
-- households: the grid's own count, else the sum of its assignments.
SELECT ST_AsMVT(t, 'grids', 4096, 'geom', 'fid') FILTER (WHERE t.geom IS NOT NULL)
FROM (
    SELECT g.id AS fid,  -- the grid id, as the feature id only
           g.code,
           g.name,
           g.kind,
           coalesce(g.households,
                    (SELECT sum(a.households)::int FROM grid_assignment a WHERE a.grid_id = g.id)) AS households,
           g.community_code,
           g.plan_id,
           ST_AsMVTGeom(ST_Simplify(g.geom, :tol_deg / 2, true),
                        ST_MakeBox2D(ST_Point(:w, :s), ST_Point(:e, :n)), 4096, 64, true) AS geom
    FROM grid g
    JOIN grid_plan p ON p.id = g.plan_id
    WHERE g.geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
      AND CASE WHEN CAST(:plan AS integer) IS NULL THEN p.status = 'active' ELSE p.id = :plan END
    OFFSET 0  -- a fence: without it the subquery is flattened and ST_AsMVTGeom runs twice (FILTER)
) AS t;
