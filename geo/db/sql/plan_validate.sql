-- Validation of one plan, as one JSON document: per grid (households, in band, contiguous),
-- compounds split, and coverage of the community (gap and overlap areas in m²).
WITH p AS (
    SELECT gp.id, gp.community_code, a.geom AS community
    FROM grid_plan gp JOIN admin_area a ON a.code = gp.community_code
    WHERE gp.id = :plan
), grids AS (
    SELECT g.code, g.kind, g.households, g.geom,
           coalesce(ST_NumGeometries(g.geom), 0) AS parts,
           (SELECT count(*) FROM grid_assignment a WHERE a.grid_id = g.id) AS buildings
    FROM grid g WHERE g.plan_id = :plan
), split AS (
    SELECT c.ext_id, c.name, sum(a.households) AS households, count(DISTINCT a.grid_id) AS grids
    FROM grid_assignment a
    JOIN building b ON b.id = a.building_id
    JOIN compound c ON c.id = b.compound_id
    WHERE a.plan_id = :plan
    GROUP BY c.id, c.ext_id, c.name
    HAVING count(DISTINCT a.grid_id) > 1
), cover AS (
    SELECT ST_Area(ST_Difference(p.community, u.geom)::geography) AS gap_m2,
           greatest(0, (SELECT sum(ST_Area(geom::geography)) FROM grids WHERE geom IS NOT NULL)
                       - ST_Area(u.geom::geography)) AS overlap_m2,
           ST_Area(p.community::geography) AS community_m2
    FROM p, (SELECT ST_UnaryUnion(ST_Collect(geom)) AS geom FROM grids) u
)
SELECT json_build_object(
    'plan_id', :plan,
    'grids', (SELECT coalesce(json_agg(json_build_object(
                  'code', code, 'kind', kind, 'households', households, 'buildings', buildings,
                  'in_band', kind <> 'basic' OR households BETWEEN :lo AND :hi,
                  'contiguous', parts = 1) ORDER BY code), '[]') FROM grids),
    'compounds_split', (SELECT coalesce(json_agg(json_build_object(
                  'compound', ext_id, 'name', name, 'households', households, 'grids', grids,
                  'avoidable', households <= :hi) ORDER BY ext_id), '[]') FROM split),
    'gap_m2', (SELECT round(gap_m2::numeric, 1) FROM cover),
    'overlap_m2', (SELECT round(overlap_m2::numeric, 1) FROM cover),
    'community_m2', (SELECT round(community_m2::numeric, 1) FROM cover)
)
