-- A building's community and, per part, the grid code of the active plan (for access checks).
SELECT b.id, b.community_code, a.part, g.code AS grid_code
FROM building b
LEFT JOIN (grid_assignment a
           JOIN grid_plan p ON p.id = a.plan_id AND p.status = 'active'
           JOIN grid g ON g.id = a.grid_id) ON a.building_id = b.id
WHERE b.ext_id = :building
