-- One appender at a time across every process sharing the database: a
-- session lock, held from before the writer catches up until its batch has
-- committed. The key is a fixed number chosen for consent-ledger.
SELECT pg_advisory_lock(7162411036813702770)
