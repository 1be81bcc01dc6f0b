-- Vector tile layer `labels`: one point per label, chosen by zoom (never more than the zoom needs):
--   z0–12   kind = 'community'  community name            (label = name, code = 12-digit code)
--   z13–15  kind = 'grid'       grid code, households     (label = grid name or code)
--   z16+    kind = 'building'   building number           (label = number, else name)
-- Binds: :z, :x, :y, :plan (grids of that plan instead of the active ones).
-- Points are ST_PointOnSurface of the polygon (always inside it), in the tile or its buffer.
SELECT ST_AsMVT(t, 'labels', 4096, 'geom')
FROM (
    SELECT 'community' AS kind, a.code, a.name AS label, NULL::integer AS households,
           ST_AsMVTGeom(ST_Transform(ST_PointOnSurface(a.geom), 3857),
                        ST_TileEnvelope(:z, :x, :y), 4096, 64, true) AS geom
    FROM admin_area a
    WHERE :z <= 12
      AND a.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.015625), 4490)
      AND a.level = 'village'
    UNION ALL
    SELECT 'grid', g.code, coalesce(g.name, g.code),
           coalesce(g.households,
                    (SELECT sum(a.households)::int FROM grid_assignment a WHERE a.grid_id = g.id)),
           ST_AsMVTGeom(ST_Transform(ST_PointOnSurface(g.geom), 3857),
                        ST_TileEnvelope(:z, :x, :y), 4096, 64, true)
    FROM grid g
    JOIN grid_plan p ON p.id = g.plan_id
    WHERE :z BETWEEN 13 AND 15
      AND g.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.015625), 4490)
      AND CASE WHEN CAST(:plan AS integer) IS NULL THEN p.status = 'active' ELSE p.id = :plan END
    UNION ALL
    SELECT 'building', b.ext_id, coalesce(b.number, b.name, b.ext_id), NULL::integer,
           ST_AsMVTGeom(ST_Transform(ST_PointOnSurface(b.geom), 3857),
                        ST_TileEnvelope(:z, :x, :y), 4096, 64, true)
    FROM building b
    WHERE :z >= 16
      AND b.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.015625), 4490)
) AS t
WHERE t.geom IS NOT NULL;
