-- Merge staged compounds (小区) into `compound`, keyed on (community_code, ext_id).
WITH src AS (
    SELECT ext_id, community_code, name, geom,
           md5(concat_ws('|', name, encode(ST_AsBinary(geom), 'hex'))) AS src_hash
    FROM stage_compound
), merged AS (
    INSERT INTO compound AS c (ext_id, community_code, name, geom, src_hash)
    SELECT ext_id, community_code, name, geom, src_hash FROM src
    ON CONFLICT (community_code, ext_id) DO UPDATE
        SET name = EXCLUDED.name, geom = EXCLUDED.geom, src_hash = EXCLUDED.src_hash, updated_at = now()
        WHERE c.src_hash IS DISTINCT FROM EXCLUDED.src_hash
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged;
