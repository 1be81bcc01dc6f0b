-- Inputs of the balancer: each building with its households (dwellings other than commercial
-- premises; the planned number when no dwelling rows are loaded), in the given communities.
SELECT b.id AS building_pk, b.ext_id AS id, b.community_code, c.ext_id AS compound_id, b.floors, b.units,
       coalesce(d.households, b.planned_dwellings, 0) AS households, b.geom
FROM building b
LEFT JOIN compound c ON c.id = b.compound_id
LEFT JOIN (
    SELECT building_id, count(*) FILTER (WHERE use <> 'commercial') AS households
    FROM dwelling GROUP BY building_id
) d ON d.building_id = b.id
WHERE b.community_code = ANY(:codes)
ORDER BY b.community_code, b.ext_id
