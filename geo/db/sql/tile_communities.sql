-- Vector tile layer `communities`: community (社区/嘎查村) boundaries, every zoom.
-- Binds: :z, :x, :y (XYZ tile), :tol (one tile unit in EPSG:3857 metres, for generalisation).
-- Geometries are stored in EPSG:4490: the tile envelope (with the 64-unit buffer) is transformed to
-- 4490 for the GiST filter, the features to 3857 for ST_AsMVTGeom. Below z14 boundaries are
-- simplified to one tile unit (topology preserved, so a small community never vanishes).
SELECT ST_AsMVT(t, 'communities', 4096, 'geom', 'fid')
FROM (
    SELECT CAST(a.code AS bigint) AS fid,
           a.code,
           a.name,
           a.parent_code AS street_code,
           s.name AS street,
           ST_AsMVTGeom(
               CASE WHEN :z < 14 THEN ST_SimplifyPreserveTopology(ST_Transform(a.geom, 3857), :tol)
                    ELSE ST_Transform(a.geom, 3857) END,
               ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom
    FROM admin_area a
    LEFT JOIN admin_area s ON s.code = a.parent_code
    WHERE a.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.015625), 4490)
      AND a.level = 'village'
) AS t
WHERE t.geom IS NOT NULL;
