-- The transaction that erased each pending partition (issue 12). VACUUM
-- FULL copies a deleted row into the new files while any session of this
-- database still holds a snapshot that can see it (an autoanalyze, a long
-- read): the rewrite waits until every snapshot is younger than this
-- transaction. Rows pending from before take the migration's own id.
ALTER TABLE scrub_pending ADD COLUMN erased_by xid8 NOT NULL DEFAULT pg_current_xact_id();
