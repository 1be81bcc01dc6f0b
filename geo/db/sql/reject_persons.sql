-- Staged persons that cannot go in: a dwelling reference that is not loaded, or an ID number that
-- already belongs to someone with another name or birth date (a data error, not an update: the
-- public-security sync, which carries record versions, is the path for identity corrections).
SELECT s.line_no, s.id_masked, 'dwelling_unknown' AS reason,
       'dwelling ' || s.dwelling_ext || ' is not loaded' AS detail
FROM stage_person s LEFT JOIN dwelling d ON d.ext_id = s.dwelling_ext
WHERE s.dwelling_ext IS NOT NULL AND d.id IS NULL
UNION ALL
SELECT s.line_no, s.id_masked, 'duplicate_conflict',
       'the ID number already belongs to a person with another name or birth date'
FROM stage_person s JOIN person p ON p.id_hash = s.id_hash
WHERE p.name <> s.name OR p.birth_date IS DISTINCT FROM s.birth_date
ORDER BY 1;
