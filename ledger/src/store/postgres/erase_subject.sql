WITH gone AS (
    DELETE FROM subjects WHERE subject_id = $1 RETURNING tableoid::regclass::text AS relation
)
INSERT INTO scrub_pending (relation) SELECT relation FROM gone
ON CONFLICT (relation) DO UPDATE SET erased_by = EXCLUDED.erased_by
