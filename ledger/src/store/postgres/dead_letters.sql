SELECT seq, recipient, attempts, last_error, failed_at FROM dead_letters ORDER BY seq, recipient
