DELETE FROM scrub_pending WHERE relation = $1
