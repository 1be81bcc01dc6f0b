-- A stored person leaves their dwelling (moved elsewhere, moved out of the city, died): the stay
-- goes into the residence history, with where they went.
INSERT INTO residence_history (person_id, dwelling_id, moved_in_at, moved_out_at, to_dwelling_id,
                               out_reason, batch_id)
SELECT person_id, old_dwelling, old_since, coalesce(effective_at, :received), new_dwelling,
       CASE op WHEN 'move_out' THEN 'move_out' WHEN 'death' THEN 'death' ELSE 'moved' END, :batch
FROM sync_plan
WHERE action = 'update' AND old_dwelling IS NOT NULL AND new_dwelling IS DISTINCT FROM old_dwelling;
