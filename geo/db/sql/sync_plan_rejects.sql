-- Records the merge rejects (kept with the masked ID number).
INSERT INTO sync_reject (batch_id, line_no, reason, detail, record)
SELECT :batch, line_no,
       CASE action WHEN 'conflict' THEN 'version_conflict' ELSE 'person_unknown' END,
       CASE action WHEN 'conflict' THEN 'version ' || version || ' is stored with other content'
                   ELSE op || ' for a person GridMap does not hold' END,
       jsonb_build_object('id_masked', id_masked, 'op', op, 'version', version)
FROM sync_plan WHERE action IN ('conflict', 'unknown')
ORDER BY line_no;
