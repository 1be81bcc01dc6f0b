-- What one round did, by action.
SELECT action,
       count(*) AS n,
       count(*) FILTER (WHERE rematched AND new_dwelling IS NULL) AS reviews,
       count(*) FILTER (WHERE new_dwelling IS NOT NULL AND new_dwelling IS DISTINCT FROM old_dwelling) AS linked,
       count(*) FILTER (WHERE old_dwelling IS NOT NULL AND new_dwelling IS DISTINCT FROM old_dwelling
                        AND action = 'update') AS moved
FROM sync_plan GROUP BY action;
