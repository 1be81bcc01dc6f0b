-- Community boundaries go onto the division rows loaded from the official code table.
-- Nothing is inserted here: an unknown code was rejected before staging.
-- "inserted" counts communities that had no boundary yet, "updated" those whose boundary changed.
WITH src AS (
    SELECT code, geom, md5(encode(ST_AsBinary(geom), 'hex')) AS src_hash FROM stage_community
), changed AS (
    SELECT s.code, s.geom, s.src_hash, a.src_hash IS NULL AS is_new
    FROM src s JOIN admin_area a ON a.code = s.code
    WHERE a.src_hash IS DISTINCT FROM s.src_hash
), merged AS (
    UPDATE admin_area a
    SET geom = c.geom, src_hash = c.src_hash, updated_at = now()
    FROM changed c
    WHERE a.code = c.code
    RETURNING c.is_new
)
SELECT count(*) FILTER (WHERE is_new) AS inserted, count(*) FILTER (WHERE NOT is_new) AS updated
FROM merged;
