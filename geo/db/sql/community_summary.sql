-- Per community: compounds, buildings, dwellings, active persons and the share linked to a dwelling.
-- Persons are counted where they live; unlinked persons cannot be placed and are counted city-wide only.
WITH b AS (
    SELECT community_code, count(*) AS buildings FROM building GROUP BY community_code
), c AS (
    SELECT community_code, count(*) AS compounds FROM compound GROUP BY community_code
), d AS (
    SELECT bl.community_code, count(*) AS dwellings
    FROM dwelling dw JOIN building bl ON bl.id = dw.building_id GROUP BY bl.community_code
), p AS (
    SELECT bl.community_code, count(*) AS persons
    FROM person pe JOIN dwelling dw ON dw.id = pe.dwelling_id JOIN building bl ON bl.id = dw.building_id
    WHERE pe.status = 'active' GROUP BY bl.community_code
)
SELECT a.code, a.name,
       coalesce(c.compounds, 0) AS compounds, coalesce(b.buildings, 0) AS buildings,
       coalesce(d.dwellings, 0) AS dwellings, coalesce(p.persons, 0) AS persons,
       NULL::float AS link_rate
FROM admin_area a
LEFT JOIN b ON b.community_code = a.code
LEFT JOIN c ON c.community_code = a.code
LEFT JOIN d ON d.community_code = a.code
LEFT JOIN p ON p.community_code = a.code
WHERE a.level = 'village' AND (a.geom IS NOT NULL OR b.buildings IS NOT NULL)
UNION ALL
SELECT 'all', '(all persons)', NULL, NULL, NULL,
       count(*) FILTER (WHERE status = 'active'),
       (count(*) FILTER (WHERE status = 'active' AND dwelling_id IS NOT NULL))::float
         / nullif(count(*) FILTER (WHERE status = 'active'), 0)
FROM person
ORDER BY 1;
