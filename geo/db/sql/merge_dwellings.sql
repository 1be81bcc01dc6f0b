-- Merge staged dwellings (already checked: building known, place not taken by another dwelling).
WITH src AS (
    SELECT s.ext_id, b.id AS building_id, s.unit, s.floor, s.room, s.address, s.use
    FROM stage_dwelling s JOIN building b ON b.ext_id = s.building_ext
), merged AS (
    INSERT INTO dwelling AS d (ext_id, building_id, unit, floor, room, address, use)
    SELECT ext_id, building_id, unit, floor, room, address, use FROM src
    ON CONFLICT (ext_id) DO UPDATE
        SET building_id = EXCLUDED.building_id, unit = EXCLUDED.unit, floor = EXCLUDED.floor,
            room = EXCLUDED.room, address = EXCLUDED.address, use = EXCLUDED.use, updated_at = now()
        WHERE (d.building_id, d.unit, d.floor, d.room, d.address, d.use)
              IS DISTINCT FROM (EXCLUDED.building_id, EXCLUDED.unit, EXCLUDED.floor, EXCLUDED.room,
                                EXCLUDED.address, EXCLUDED.use)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS updated FROM merged;
