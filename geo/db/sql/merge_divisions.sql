-- Merge the official division codes (province .. village) into `admin_area`.
WITH merged AS (
    INSERT INTO admin_area AS a (code, name, level, parent_code)
    SELECT code, name, level, nullif(parent_code, '') FROM stage_division
    ON CONFLICT (code) DO UPDATE
        SET name = EXCLUDED.name, level = EXCLUDED.level, parent_code = EXCLUDED.parent_code, updated_at = now()
        WHERE (a.name, a.level, a.parent_code) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.level, EXCLUDED.parent_code)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged;
