-- Merge staged compounds (小区) into `compound`, keyed on (community_code, ext_id).
WITH merged AS (
    INSERT INTO compound AS c (ext_id, community_code, name, geom, geom_hash)
    SELECT ext_id, community_code, name, ST_Multi(geom), geom_hash FROM stage_compound
    ON CONFLICT (community_code, ext_id) DO UPDATE
        SET name = EXCLUDED.name, geom = EXCLUDED.geom, geom_hash = EXCLUDED.geom_hash, updated_at = now()
        WHERE (c.name, c.geom_hash) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.geom_hash)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged;
