-- Community boundaries go onto the division rows loaded from the official code table.
-- Nothing is inserted here: an unknown code was rejected before staging.
-- "inserted" counts communities that had no boundary yet, "updated" those whose boundary changed.
WITH changed AS (
    SELECT s.code, ST_Multi(s.geom) AS geom, s.geom_hash, a.geom_hash IS NULL AS is_new
    FROM stage_community s JOIN admin_area a ON a.code = s.code
    WHERE a.geom_hash IS DISTINCT FROM s.geom_hash
), merged AS (
    UPDATE admin_area a
    SET geom = c.geom, geom_hash = c.geom_hash, updated_at = now()
    FROM changed c
    WHERE a.code = c.code
    RETURNING c.is_new
)
SELECT count(*) FILTER (WHERE is_new) AS inserted, count(*) FILTER (WHERE NOT is_new) AS updated
FROM merged;
