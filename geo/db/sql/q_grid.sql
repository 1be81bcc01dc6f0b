-- A grid of a plan (the active one unless :plan is given): boundary and figures.
WITH g AS (
    SELECT gr.*, p.status AS plan_status FROM grid gr JOIN grid_plan p ON p.id = gr.plan_id
    WHERE gr.code = :code AND (p.id = :plan OR (CAST(:plan AS int) IS NULL AND p.status = 'active'))
), a AS (
    SELECT a.building_id, a.part FROM grid_assignment a JOIN g ON g.id = a.grid_id
), b AS (
    SELECT DISTINCT building_id FROM a
), d AS (
    SELECT dw.* FROM dwelling dw JOIN a ON a.building_id = dw.building_id AND (a.part = '' OR part_covers(a.part, dw.unit, dw.floor))
), pe AS (
    SELECT p.* FROM person p JOIN d ON d.id = p.dwelling_id WHERE p.status = 'active'
), tags AS (
    SELECT t AS tag, count(*) AS n FROM pe, unnest(pe.care_tags) t GROUP BY t
)
SELECT g.code, g.name, g.kind, g.community_code, a.name AS community, g.plan_id, g.plan_status,
       ST_AsGeoJSON(g.geom, 7)::json AS boundary,
       (SELECT count(*) FROM b) AS buildings,
       (SELECT count(*) FROM d) AS dwellings,
       (SELECT count(*) FROM d WHERE use <> 'commercial') AS households,
       (SELECT count(DISTINCT dwelling_id) FROM pe) AS occupied_dwellings,
       (SELECT count(*) FROM pe) AS residents,
       (SELECT count(*) FROM pe WHERE residence_type = '流动') AS floating_residents,
       (SELECT coalesce(json_object_agg(tag, n ORDER BY tag), '{}') FROM tags) AS care_groups,
       (SELECT json_build_object('name', w.name, 'phone', w.phone) FROM grid_worker w
        WHERE w.grid_code = g.code AND w.active ORDER BY w.role = 'worker' DESC, w.id LIMIT 1) AS worker
FROM g JOIN admin_area a ON a.code = g.community_code
