-- Merge staged buildings into `building`: insert new ids, update changed ones, leave identical ones.
-- src_hash covers every attribute and the geometry, so a re-import of the same file writes nothing.
WITH src AS (
    SELECT s.ext_id, s.community_code, c.id AS compound_id, s.number, s.name, s.floors, s.units,
           s.dwellings, s.use, s.geom,
           md5(concat_ws('|', s.community_code, c.id, s.number, s.name, s.floors, s.units, s.dwellings,
                         s.use, encode(ST_AsBinary(s.geom), 'hex'))) AS src_hash
    FROM stage_building s
    LEFT JOIN compound c ON c.community_code = s.community_code AND c.ext_id = s.compound_ext
), merged AS (
    INSERT INTO building AS b (ext_id, community_code, compound_id, number, name, floors, units,
                               planned_dwellings, use, geom, src_hash)
    SELECT ext_id, community_code, compound_id, number, name, floors, units, dwellings, use, geom, src_hash
    FROM src
    ON CONFLICT (ext_id) DO UPDATE
        SET community_code = EXCLUDED.community_code, compound_id = EXCLUDED.compound_id,
            number = EXCLUDED.number, name = EXCLUDED.name, floors = EXCLUDED.floors,
            units = EXCLUDED.units, planned_dwellings = EXCLUDED.planned_dwellings, use = EXCLUDED.use,
            geom = EXCLUDED.geom, src_hash = EXCLUDED.src_hash, updated_at = now()
        WHERE b.src_hash IS DISTINCT FROM EXCLUDED.src_hash
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged;
