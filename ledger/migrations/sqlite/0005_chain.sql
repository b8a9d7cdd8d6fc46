-- The store itself enforces the chain, so no bug above it can leave a gap
-- or a fork: an entry is accepted only at the head's sequence number plus
-- one, and only if its `prev` is the head's hash (the genesis entry: seq 0,
-- prev 64 zeros). The message is matched by the application
-- (StoreError::ChainBroken).
CREATE TRIGGER entries_extend_chain BEFORE INSERT ON entries
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq) + 1, 0) FROM entries)
  OR json_extract(NEW.line, '$.prev') IS NOT coalesce(
       (SELECT lower(hex(hash)) FROM entries WHERE seq = NEW.seq - 1),
       '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN
    SELECT RAISE(ABORT, 'an entry must extend the head of the chain');
END;
