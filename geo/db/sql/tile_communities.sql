-- Vector tile layer `communities`: community (社区/嘎查村) boundaries, every zoom.
--
-- Binds shared by every tile_*.sql (computed by geo.db.tiles.tile_params):
--   :z, :x, :y           the XYZ tile
--   :w, :s, :e, :n       the tile's lon/lat box (the inverse Web Mercator of ST_TileEnvelope(z, x, y))
--   :bw, :bs, :be, :bn   the same box grown by the 64-unit buffer (ST_TileEnvelope's margin), for the GiST filter
--   :tol, :tol_deg       one tile unit in EPSG:3857 metres and in degrees of longitude (generalisation)
--   :plan                a grid_plan id, or NULL for the active plans (plan-aware layers only)
--
-- Geometries are stored in EPSG:4490 (CGCS2000 lon/lat); `geom && <lon/lat box>` uses the GiST index.
-- Encoding:
--   z >= 12: ST_AsMVTGeom maps lon/lat linearly onto the tile's lon/lat box: exact in x and on the
--            tile's edges (so features join across tiles); inside a tile Mercator's curvature moves a
--            point by at most 0.5 tile unit at z12, 4 × less per zoom (0.03 unit at z14), below MVT's
--            integer grid. No per-feature ST_Transform, which is most of the cost of a dense tile.
--   z < 12:  exact Web Mercator (CGCS2000 taken as WGS 84 lon/lat, which is what PROJ's own
--            4490 -> 3857 operation does with its null "ballpark" shift; 4326 is the cheaper path).
-- Polygons are simplified to half a tile unit (Douglas-Peucker keeping collapsed rings, so no small
-- polygon vanishes; ST_AsMVTGeom makes the result valid). ST_SimplifyPreserveTopology makes the same
-- tiles 6-17 times slower (grids, measured on the benchmark city).
SELECT ST_AsMVT(t, 'communities', 4096, 'geom', 'fid') FILTER (WHERE t.geom IS NOT NULL)
FROM (
    SELECT CAST(a.code AS bigint) AS fid,
           a.code,
           a.name,
           a.parent_code AS street_code,
           s.name AS street,
           CASE WHEN :z >= 12 THEN
               ST_AsMVTGeom(ST_Simplify(a.geom, :tol_deg / 2, true),
                            ST_MakeBox2D(ST_Point(:w, :s), ST_Point(:e, :n)), 4096, 64, true)
           ELSE
               ST_AsMVTGeom(ST_Simplify(ST_Transform(ST_SetSRID(a.geom, 4326), 3857), :tol / 2, true),
                            ST_TileEnvelope(:z, :x, :y), 4096, 64, true)
           END AS geom
    FROM admin_area a
    LEFT JOIN admin_area s ON s.code = a.parent_code
    WHERE a.geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
      AND a.level = 'village'
    OFFSET 0  -- a fence: without it the subquery is flattened and ST_AsMVTGeom runs twice (FILTER)
) AS t;
