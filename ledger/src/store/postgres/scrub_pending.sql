SELECT relation FROM scrub_pending ORDER BY relation
