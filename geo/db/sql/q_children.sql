-- 一屏统览: figures of the children of an admin area (or the grids of a community), rolled up from
-- per-community aggregates. :prefix is the area's significant code prefix, :child_len the length of
-- its children's prefix (4 city, 6 district, 9 street, 12 community).
WITH bld AS (
    SELECT b.id, b.community_code FROM building b WHERE b.community_code LIKE :prefix || '%'
), hh AS (
    SELECT bld.community_code, count(*) FILTER (WHERE d.use <> 'commercial') AS households,
           count(*) AS dwellings
    FROM dwelling d JOIN bld ON bld.id = d.building_id GROUP BY bld.community_code
), res AS (
    SELECT bld.community_code, count(*) AS residents
    FROM person p JOIN dwelling d ON d.id = p.dwelling_id JOIN bld ON bld.id = d.building_id
    WHERE p.status = 'active' GROUP BY bld.community_code
), grids AS (
    SELECT g.community_code, count(*) FILTER (WHERE g.kind = 'basic') AS grids
    FROM grid g JOIN grid_plan p ON p.id = g.plan_id AND p.status = 'active'
    WHERE g.community_code LIKE :prefix || '%' GROUP BY g.community_code
), per_comm AS (
    SELECT c.code, coalesce(hh.households, 0) AS households, coalesce(hh.dwellings, 0) AS dwellings,
           coalesce(res.residents, 0) AS residents, coalesce(grids.grids, 0) AS grids
    FROM admin_area c
    LEFT JOIN hh ON hh.community_code = c.code
    LEFT JOIN res ON res.community_code = c.code
    LEFT JOIN grids ON grids.community_code = c.code
    WHERE c.level = 'village' AND c.code LIKE :prefix || '%'
)
SELECT a.code, a.name, a.level,
       coalesce(sum(pc.grids), 0)::int AS grids, coalesce(sum(pc.households), 0)::int AS households,
       coalesce(sum(pc.dwellings), 0)::int AS dwellings, coalesce(sum(pc.residents), 0)::int AS residents,
       count(pc.code) FILTER (WHERE pc.households > 0)::int AS communities_with_data
FROM admin_area a
LEFT JOIN per_comm pc ON left(pc.code, :child_len) = left(a.code, :child_len)
WHERE a.parent_code = :code
GROUP BY a.code, a.name, a.level
ORDER BY a.code
