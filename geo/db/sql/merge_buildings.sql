-- Merge staged buildings into `building`: insert new ids, update changed ones, leave identical ones.
-- geom_hash is the md5 of the geometry's WKB (computed while staging), so a re-import of the same
-- file compares a hash and the attributes, and writes nothing.
WITH src AS (
    SELECT s.ext_id, s.community_code, c.id AS compound_id, s.number, s.name, s.floors, s.units,
           s.dwellings, s.use, ST_Multi(s.geom) AS geom, s.geom_hash
    FROM stage_building s
    LEFT JOIN compound c ON c.community_code = s.community_code AND c.ext_id = s.compound_ext
), merged AS (
    INSERT INTO building AS b (ext_id, community_code, compound_id, number, name, floors, units,
                               planned_dwellings, use, geom, geom_hash)
    SELECT ext_id, community_code, compound_id, number, name, floors, units, dwellings, use, geom, geom_hash
    FROM src
    ON CONFLICT (ext_id) DO UPDATE
        SET community_code = EXCLUDED.community_code, compound_id = EXCLUDED.compound_id,
            number = EXCLUDED.number, name = EXCLUDED.name, floors = EXCLUDED.floors,
            units = EXCLUDED.units, planned_dwellings = EXCLUDED.planned_dwellings, use = EXCLUDED.use,
            geom = EXCLUDED.geom, geom_hash = EXCLUDED.geom_hash, updated_at = now()
        WHERE (b.community_code, b.compound_id, b.number, b.name, b.floors, b.units, b.planned_dwellings,
               b.use, b.geom_hash)
              IS DISTINCT FROM (EXCLUDED.community_code, EXCLUDED.compound_id, EXCLUDED.number, EXCLUDED.name,
                                EXCLUDED.floors, EXCLUDED.units, EXCLUDED.planned_dwellings, EXCLUDED.use,
                                EXCLUDED.geom_hash)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged;
