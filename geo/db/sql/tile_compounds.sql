-- Vector tile layer `compounds`: walled residential compounds (小区), from z13.
-- Binds and encoding: see tile_communities.sql (z12+: linear lon/lat tile box).
SELECT ST_AsMVT(t, 'compounds', 4096, 'geom', 'fid') FILTER (WHERE t.geom IS NOT NULL)
FROM (
    SELECT c.id AS fid,  -- the compound id, as the feature id only
           c.ext_id,
           c.name,
           c.community_code,
           ST_AsMVTGeom(ST_Simplify(c.geom, :tol_deg / 2, true),
                        ST_MakeBox2D(ST_Point(:w, :s), ST_Point(:e, :n)), 4096, 64, true) AS geom
    FROM compound c
    WHERE c.geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
    OFFSET 0  -- a fence: without it the subquery is flattened and ST_AsMVTGeom runs twice (FILTER)
) AS t;
