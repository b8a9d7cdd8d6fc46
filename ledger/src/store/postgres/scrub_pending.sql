SELECT relation, erased_by::text FROM scrub_pending ORDER BY relation
