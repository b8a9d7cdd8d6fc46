WITH gone AS (
    DELETE FROM evidence WHERE seq = ANY($1) RETURNING sealed
)
INSERT INTO scrub_pending (relation)
SELECT 'evidence' FROM gone WHERE NOT sealed LIMIT 1
ON CONFLICT (relation) DO UPDATE SET erased_by = EXCLUDED.erased_by
