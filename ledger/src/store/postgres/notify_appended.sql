-- Tells every process listening (other writers, relays) the new head;
-- delivered when the transaction commits.
SELECT pg_notify('consent_ledger_appended', $1)
