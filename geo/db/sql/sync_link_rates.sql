-- Residents and linked residents per community, grid (active plans) and street, from a counts
-- source ({source}: link_count, or one batch's sync_link_delta), for the communities :codes.
-- A building split between grids (a tower by stairwell units) gives each unit to its part; a
-- resident whose unit is unknown counts in the building's first part.
WITH src AS (
    SELECT community_code, building_id, unit, persons, linked FROM {source} s
    WHERE s.community_code = ANY (CAST(:codes AS text[]))
), ga AS (
    SELECT a.building_id, a.part, g.code
    FROM grid_assignment a
    JOIN grid_plan p ON p.id = a.plan_id AND p.status = 'active'
    JOIN grid g ON g.id = a.grid_id
    WHERE p.community_code = ANY (CAST(:codes AS bpchar[]))
), by_grid AS (
    SELECT DISTINCT ON (src.community_code, src.building_id, src.unit) src.persons, src.linked, ga.code
    FROM src JOIN ga ON ga.building_id = src.building_id
    ORDER BY src.community_code, src.building_id, src.unit, grid_part_has_unit(ga.part, src.unit) DESC, ga.part
)
SELECT 'community' AS level, community_code AS code, sum(persons)::bigint AS persons, sum(linked)::bigint AS linked
FROM src GROUP BY community_code
UNION ALL
SELECT 'grid', code, sum(persons)::bigint, sum(linked)::bigint FROM by_grid GROUP BY code
UNION ALL
SELECT 'street', a.parent_code, sum(persons)::bigint, sum(linked)::bigint
FROM src JOIN admin_area a ON a.code = src.community_code GROUP BY a.parent_code
