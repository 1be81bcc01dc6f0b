-- Vector tile layer `labels`: one point per label, chosen by zoom (never more than the zoom needs):
--   z0–12   kind = 'community'  community name            (label = name, code = 12-digit code)
--   z13–15  kind = 'grid'       grid code, households     (label = grid name or code)
--   z16+    kind = 'building'   building number           (label = number, else name)
-- :plan: grids of that plan instead of the active ones.
-- Points are ST_PointOnSurface of the polygon (always inside it), in the tile or its buffer.
-- Binds and encoding: see tile_communities.sql (z12+: linear lon/lat tile box; below: exact Web Mercator).
SELECT ST_AsMVT(t, 'labels', 4096, 'geom') FILTER (WHERE t.geom IS NOT NULL)
FROM (
    SELECT 'community' AS kind, a.code, a.name AS label, NULL::integer AS households,
           CASE WHEN :z >= 12 THEN
               ST_AsMVTGeom(ST_PointOnSurface(a.geom),
                            ST_MakeBox2D(ST_Point(:w, :s), ST_Point(:e, :n)), 4096, 64, true)
           ELSE
               ST_AsMVTGeom(ST_Transform(ST_SetSRID(ST_PointOnSurface(a.geom), 4326), 3857),
                            ST_TileEnvelope(:z, :x, :y), 4096, 64, true)
           END AS geom
    FROM admin_area a
    WHERE :z <= 12
      AND a.geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
      AND a.level = 'village'
    UNION ALL
    SELECT 'grid', g.code, coalesce(g.name, g.code),
           coalesce(g.households,
                    (SELECT sum(a.households)::int FROM grid_assignment a WHERE a.grid_id = g.id)),
           ST_AsMVTGeom(ST_PointOnSurface(g.geom),
                        ST_MakeBox2D(ST_Point(:w, :s), ST_Point(:e, :n)), 4096, 64, true)
    FROM grid g
    JOIN grid_plan p ON p.id = g.plan_id
    WHERE :z BETWEEN 13 AND 15
      AND g.geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
      AND CASE WHEN CAST(:plan AS integer) IS NULL THEN p.status = 'active' ELSE p.id = :plan END
    UNION ALL
    SELECT 'building', b.ext_id, coalesce(b.number, b.name, b.ext_id), NULL::integer,
           ST_AsMVTGeom(ST_PointOnSurface(b.geom),
                        ST_MakeBox2D(ST_Point(:w, :s), ST_Point(:e, :n)), 4096, 64, true)
    FROM building b
    WHERE :z >= 16
      AND b.geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
) AS t;
