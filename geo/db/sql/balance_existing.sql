-- The active plan's basic-grid assignment of the given communities (for a re-balance).
SELECT b.ext_id AS building_id, g.code AS grid_code, a.part AS units
FROM grid_assignment a
JOIN grid_plan p ON p.id = a.plan_id AND p.status = 'active'
JOIN grid g ON g.id = a.grid_id AND g.kind = 'basic'
JOIN building b ON b.id = a.building_id
WHERE p.community_code = ANY(:codes)
