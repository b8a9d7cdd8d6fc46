DELETE FROM scrub_pending WHERE relation = $1 AND erased_by = $2::text::xid8
