-- Sessions of this database whose snapshot (or running transaction) is not
-- younger than the erasure that left `relation` pending: the deleted rows
-- are still visible to them, so a rewrite now would copy them.
SELECT count(*)
FROM pg_stat_activity a, scrub_pending p
WHERE p.relation = $1
  AND a.datname = current_database()
  AND a.pid <> pg_backend_pid()
  AND GREATEST(age(a.backend_xmin), age(a.backend_xid)) >= age(xid(p.erased_by))
