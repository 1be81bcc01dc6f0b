-- A grid of a plan (the active one unless :plan is given): boundary and figures.
-- Dwellings are reached building by building through dwelling_place_idx (building_id first), so
-- the cost follows the grid's size, not the city's; each set is counted in one pass. Residents
-- come from index-only scans of person_dwelling_idx (migration 0005 includes the columns counted).
WITH g AS (
    SELECT gr.*, p.status AS plan_status FROM grid gr JOIN grid_plan p ON p.id = gr.plan_id
    WHERE gr.code = :code
      AND gr.plan_id = coalesce(CAST(:plan AS int), (SELECT ap.id FROM grid_plan ap
                                                     WHERE ap.community_code = CAST(left(:code, 12) AS bpchar) AND ap.status = 'active'))
), a AS MATERIALIZED (
    SELECT a.building_id, a.part FROM grid_assignment a JOIN g ON g.id = a.grid_id
), d AS MATERIALIZED (
    SELECT dw.id, dw.use FROM a CROSS JOIN LATERAL (
        SELECT x.id, x.use FROM dwelling x
        WHERE x.building_id = a.building_id AND (a.part = '' OR part_covers(a.part, x.unit, x.floor))
    ) dw
), pe AS MATERIALIZED (
    SELECT p.dwelling_id, p.residence_type, p.care_tags FROM d JOIN person p ON p.dwelling_id = d.id
    WHERE p.status = 'active'
)
SELECT g.code, g.name, g.kind, g.community_code, ar.name AS community, g.plan_id, g.plan_status,
       ST_AsGeoJSON(g.geom, 7, 0)::json AS boundary,  -- RFC 7946: no crs member (CGCS2000 ≈ WGS 84)
       (SELECT count(DISTINCT building_id) FROM a) AS buildings,
       dd.dwellings, dd.households, pp.occupied_dwellings, pp.residents, pp.floating_residents,
       (SELECT coalesce(json_object_agg(tag, n ORDER BY tag), '{}')
        FROM (SELECT t AS tag, count(*) AS n FROM pe, unnest(pe.care_tags) t
              WHERE pe.care_tags <> CAST('{}' AS text[]) GROUP BY t) tags) AS care_groups,
       (SELECT json_build_object('name', w.name, 'phone', w.phone) FROM grid_worker w
        WHERE w.grid_code = g.code AND w.active ORDER BY w.role = 'worker' DESC, w.id LIMIT 1) AS worker,
       CASE WHEN dd.dwellings > 0 THEN round(pp.occupied_dwellings::numeric / dd.dwellings, 4) END AS occupancy
FROM g JOIN admin_area ar ON ar.code = g.community_code
CROSS JOIN (SELECT count(*) AS dwellings, count(*) FILTER (WHERE use <> 'commercial') AS households FROM d) dd
CROSS JOIN (SELECT count(DISTINCT dwelling_id) AS occupied_dwellings, count(*) AS residents,
                   count(*) FILTER (WHERE residence_type = '流动') AS floating_residents FROM pe) pp
