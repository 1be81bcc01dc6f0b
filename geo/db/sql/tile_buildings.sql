-- Vector tile layer `buildings`: footprints (楼栋), from z14 (below, they are specks: see labels).
-- Binds and encoding: see tile_communities.sql (linear lon/lat tile box, no per-feature transform);
-- :plan is a grid_plan id, or NULL for the active plan of each building's community.
-- households = the building's dwelling rows, or its planned dwellings when it has none;
-- grid = the code(s) of its grid in that plan (a tower split by units lists each part's grid).
-- No personal data: nothing from person, and dwellings only as a count.
SELECT ST_AsMVT(t, 'buildings', 4096, 'geom', 'fid') FILTER (WHERE t.geom IS NOT NULL)
FROM (
    SELECT b.id AS fid,
           b.id,
           b.number,
           b.name,
           b.floors,
           b.use,
           coalesce(nullif(d.n, 0), b.planned_dwellings) AS households,
           ga.grid,
           ST_AsMVTGeom(b.geom, ST_MakeBox2D(ST_Point(:w, :s), ST_Point(:e, :n)),
                        4096, 64, true) AS geom
    FROM building b
    LEFT JOIN LATERAL (
        SELECT count(*)::integer AS n FROM dwelling dw WHERE dw.building_id = b.id
    ) AS d ON true
    LEFT JOIN LATERAL (
        SELECT string_agg(DISTINCT g.code, ',') AS grid
        FROM grid_assignment a
        JOIN grid g ON g.id = a.grid_id
        WHERE a.building_id = b.id
          AND a.plan_id = coalesce(CAST(:plan AS integer),
                                   (SELECT p.id FROM grid_plan p
                                    WHERE p.community_code = b.community_code AND p.status = 'active'))
    ) AS ga ON true
    WHERE b.geom && ST_MakeEnvelope(:bw, :bs, :be, :bn, 4490)
) AS t;
