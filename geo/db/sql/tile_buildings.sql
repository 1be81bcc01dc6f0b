-- Vector tile layer `buildings`: footprints (楼栋), from z14 (below, they are specks: see labels).
-- Binds and encoding: see tile_communities.sql (linear lon/lat tile box, no per-feature transform);
-- :plan is a grid_plan id, or NULL for the active plan of each building's community.
-- households = the building's dwelling rows, or its planned dwellings when it has none;
-- grid = the code(s) of its grid in that plan (a tower split by units lists each part's grid).
-- Public tiles (no :plan) read both from the building row (tile_households, tile_grid: kept by the
-- triggers of migration 0004), so a tile is one index scan of `building`; a planner's tile of a
-- given plan looks the grid up in that plan per building. One branch runs, the other is cut by
-- its constant condition (a single SELECT with a CASE measured 15 % slower on busy tiles).
-- No personal data: nothing from person, and dwellings only as a count.
SELECT ST_AsMVT(t, 'buildings', 4096, 'geom', 'fid') FILTER (WHERE t.geom IS NOT NULL)
FROM (
    SELECT b.id AS fid,
           b.id,
           b.number,
           b.name,
           b.floors,
           b.use,
           coalesce(b.tile_households, b.planned_dwellings) AS households,
           b.tile_grid AS grid,
           ST_AsMVTGeom(b.geom, ST_MakeBox2D(ST_Point(:w, :s), ST_Point(:e, :n)), 4096, 64, true) AS geom
    FROM building b
    WHERE CAST(:plan AS integer) IS NULL AND b.geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
    UNION ALL
    SELECT b.id,
           b.id,
           b.number,
           b.name,
           b.floors,
           b.use,
           coalesce(b.tile_households, b.planned_dwellings),
           (SELECT string_agg(DISTINCT g.code, ',' ORDER BY g.code)
            FROM grid_assignment a JOIN grid g ON g.id = a.grid_id
            WHERE a.plan_id = :plan AND a.building_id = b.id),
           ST_AsMVTGeom(b.geom, ST_MakeBox2D(ST_Point(:w, :s), ST_Point(:e, :n)), 4096, 64, true)
    FROM building b
    WHERE CAST(:plan AS integer) IS NOT NULL AND b.geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
) AS t;
