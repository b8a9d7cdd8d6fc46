SELECT seq, hash, line FROM entries WHERE kind IN ('ledger_initialized', 'key_rotated') ORDER BY seq
