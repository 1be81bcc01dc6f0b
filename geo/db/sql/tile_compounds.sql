-- Vector tile layer `compounds`: walled residential compounds (小区), from z12.
-- Binds: :z, :x, :y, :tol (see tile_communities.sql).
SELECT ST_AsMVT(t, 'compounds', 4096, 'geom', 'fid')
FROM (
    SELECT c.id AS fid,
           c.id,
           c.ext_id,
           c.name,
           c.community_code,
           ST_AsMVTGeom(
               CASE WHEN :z < 14 THEN ST_SimplifyPreserveTopology(ST_Transform(c.geom, 3857), :tol)
                    ELSE ST_Transform(c.geom, 3857) END,
               ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom
    FROM compound c
    WHERE c.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.015625), 4490)
) AS t
WHERE t.geom IS NOT NULL;
