-- The review queue: a changed address (or a new person) that did not resolve to one dwelling
-- with confidence waits for a grid worker, with its ranked candidates; an open review of a person
-- whose address or status changed since is superseded.
UPDATE sync_review r SET status = 'superseded', resolved_at = now(), resolved_by = 'sync'
FROM sync_plan s
WHERE r.person_id = s.person_id AND r.status = 'open' AND s.action = 'update'
  AND (s.rematched OR s.new_status <> 'active');

INSERT INTO sync_review (batch_id, line_no, person_id, address, reason, candidates, community_code,
                         building_id)
SELECT :batch, line_no, person_id, address,
       CASE WHEN address IS NULL THEN 'no_address' ELSE coalesce(match_status, 'unmatched') END,
       coalesce(candidates, '[]'), area_community, area_building
FROM sync_plan
WHERE rematched AND new_dwelling IS NULL
ORDER BY person_id;
