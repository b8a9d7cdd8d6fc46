-- The store itself enforces the chain, so no bug above it can leave a gap
-- or a fork: an entry is accepted only at the head's sequence number plus
-- one, and only if its `prev` is the head's hash (the genesis entry: seq 0,
-- prev 64 zeros). Rows of one multi-row INSERT see the rows before them
-- (row-level BEFORE trigger). Two transactions racing for the same seq
-- both pass here and the primary key refuses the second. The message is
-- matched by the application (StoreError::ChainBroken).
CREATE FUNCTION entries_extend_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    head_seq  BIGINT;
    head_hash BYTEA;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM entries ORDER BY seq DESC LIMIT 1;
    IF NEW.seq IS DISTINCT FROM coalesce(head_seq + 1, 0)
       OR (NEW.line::json ->> 'prev') IS DISTINCT FROM coalesce(
            encode(head_hash, 'hex'),
            '0000000000000000000000000000000000000000000000000000000000000000') THEN
        RAISE EXCEPTION 'an entry must extend the head of the chain (entry %)', NEW.seq
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER entries_extend_chain BEFORE INSERT ON entries
FOR EACH ROW EXECUTE FUNCTION entries_extend_chain();
