-- Staged dwellings that cannot go in: unknown building, or a place (building, unit, room) that
-- another dwelling already holds or that the file gives twice.
WITH placed AS (
    SELECT s.line_no, s.ext_id, s.building_ext, b.id AS building_id, s.unit, s.room,
           count(*) OVER (PARTITION BY b.id, coalesce(s.unit, 0), s.room) AS n_in_file
    FROM stage_dwelling s LEFT JOIN building b ON b.ext_id = s.building_ext
)
SELECT p.line_no, p.ext_id,
       CASE WHEN p.building_id IS NULL THEN 'building_unknown' ELSE 'place_taken' END AS reason,
       CASE WHEN p.building_id IS NULL THEN 'building ' || p.building_ext || ' is not loaded'
            ELSE 'unit ' || coalesce(p.unit::text, '-') || ' room ' || p.room || ' of building '
                 || p.building_ext || ' is given to another dwelling' END AS detail
FROM placed p
WHERE p.building_id IS NULL
   OR p.n_in_file > 1
   OR EXISTS (SELECT 1 FROM dwelling d
              WHERE d.building_id = p.building_id AND coalesce(d.unit, 0) = coalesce(p.unit, 0)
                AND d.room = p.room AND d.ext_id IS DISTINCT FROM p.ext_id)
ORDER BY p.line_no;
