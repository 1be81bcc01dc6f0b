-- The community, the grid of the active plan and its worker at a point (EPSG:4490 lon/lat).
WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) AS g)
SELECT c.code AS community_code, c.name AS community, s.code AS street_code, s.name AS street,
       d.code AS district_code, d.name AS district,
       g.code AS grid_code, g.name AS grid_name, g.kind AS grid_kind,
       w.name AS worker, w.phone AS worker_phone
FROM pt
JOIN admin_area c ON c.level = 'village' AND c.geom IS NOT NULL AND ST_Covers(c.geom, pt.g)
LEFT JOIN admin_area s ON s.code = c.parent_code
LEFT JOIN admin_area d ON d.code = s.parent_code
LEFT JOIN LATERAL (
    SELECT gr.code, gr.name, gr.kind FROM grid gr JOIN grid_plan p ON p.id = gr.plan_id AND p.status = 'active'
    WHERE gr.community_code = c.code AND gr.geom && pt.g AND ST_Covers(gr.geom, pt.g)
    ORDER BY (gr.kind = 'dedicated') DESC LIMIT 1
) g ON true
LEFT JOIN LATERAL (
    SELECT name, phone FROM grid_worker WHERE grid_code = g.code AND active ORDER BY role = 'worker' DESC, id LIMIT 1
) w ON true
LIMIT 1
