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
-- The building id is the feature id only: as an attribute too it added a distinct value per feature
-- to the tile's value table (15 % of a busy tile's bytes and 14 % of its time).
--
-- Geometry, two paths giving the same polygons (tests/api/test_tiles.py compares them):
--   * the fast path, for a footprint inside the tile's 64-unit buffer whose minimum clearance
--     (migration 0007) is at least two tile units: the same affine map as ST_AsMVTGeom, snapped to
--     the integer grid (each vertex moves by at most half a unit per axis, less than half the
--     clearance, so the footprint stays valid and no vertex merges with another), rings turned as
--     MVT wants them (ST_AsMVTGeom's output is counter-clockwise in these y-down coordinates).
--     "Inside" is tested on the index boxes (float4, rounded outwards) against the buffered box of
--     the index filter (:bw … :bn) shrunk by 2^-16 degrees, one float4 step at |lon| < 256 (46 tile
--     units at z18, less than the buffer). Collinear vertices are kept (ST_AsMVTGeom drops them:
--     same polygon, a few more bytes);
--   * ST_AsMVTGeom (clip and make valid) for the rest: footprints across the buffer's edge, and
--     those with details under two units (at z14 a unit is about 0.45 m).
--   The fast path skips ST_AsMVTGeom's clip-and-validate (wagyu), most of the cost of a busy tile:
--   busy tiles take about a third less time. Per-tile values are uncorrelated sub-SELECTs, computed
--   once per tile (InitPlans), not once per row of the generic prepared plan.
SELECT ST_AsMVT(t, 'buildings', 4096, 'geom', 'fid') FILTER (WHERE t.geom IS NOT NULL)
FROM (
    SELECT b.fid, b.number, b.name, b.floors, b.use, b.households, b.grid,
           CASE WHEN b.min_clearance >= (SELECT 2 * GREATEST(:e - :w, :n - :s) / 4096)
                 AND b.geom @ (SELECT ST_Expand(ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490), -0.0000152587890625))
           THEN ST_ForcePolygonCCW(ST_SnapToGrid(
                    ST_Affine(b.geom, 4096 / (:e - :w), 0, 0, -(4096 / (:n - :s)),
                              -:w * (4096 / (:e - :w)), -:n * -(4096 / (:n - :s))), 1))
           ELSE ST_AsMVTGeom(b.geom, ST_MakeBox2D(ST_Point(:w, :s), ST_Point(:e, :n)), 4096, 64, true)
           END AS geom
    FROM (
        SELECT b.id AS fid,
               b.number,
               b.name,
               b.floors,
               b.use,
               coalesce(b.tile_households, b.planned_dwellings) AS households,
               b.tile_grid AS grid,
               b.geom,
               b.min_clearance
        FROM building b
        WHERE CAST(:plan AS integer) IS NULL AND b.geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
        UNION ALL
        SELECT b.id,
               b.number,
               b.name,
               b.floors,
               b.use,
               coalesce(b.tile_households, b.planned_dwellings),
               (SELECT string_agg(DISTINCT g.code, ',' ORDER BY g.code)
                FROM grid_assignment a JOIN grid g ON g.id = a.grid_id
                WHERE a.plan_id = :plan AND a.building_id = b.id),
               b.geom,
               b.min_clearance
        FROM building b
        WHERE CAST(:plan AS integer) IS NOT NULL AND b.geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
    ) AS b
    OFFSET 0  -- a fence: without it the subquery is flattened and the geometry is computed twice (FILTER)
) AS t;
