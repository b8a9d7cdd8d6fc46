-- The Merkle tree over the log, as C2SP tlog-tiles lays it out: tile
-- (level, idx) holds up to 256 32-byte hashes of tree height 8·level.
-- The last tile of a level is rewritten longer as it fills; a stored tile
-- may only grow (its old bytes stay a prefix) and is never deleted.
CREATE TABLE tiles (
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hashes BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) STRICT;

CREATE TRIGGER tiles_only_grow BEFORE UPDATE ON tiles
WHEN NEW.level <> OLD.level OR NEW.idx <> OLD.idx
  OR length(NEW.hashes) < length(OLD.hashes)
  OR substr(NEW.hashes, 1, length(OLD.hashes)) <> OLD.hashes
BEGIN
    SELECT RAISE(ABORT, 'tiles only grow');
END;

CREATE TRIGGER tiles_no_delete BEFORE DELETE ON tiles
BEGIN
    SELECT RAISE(ABORT, 'tiles are append-only');
END;

-- Every published checkpoint (C2SP signed note); cosignatures collected
-- later are appended to `note`, nothing else changes.
CREATE TABLE checkpoints (
    size         INTEGER PRIMARY KEY,
    root         BLOB    NOT NULL,
    note         TEXT    NOT NULL,
    published_at TEXT    NOT NULL
) STRICT;

CREATE TRIGGER checkpoints_keep_root BEFORE UPDATE ON checkpoints
WHEN NEW.size <> OLD.size OR NEW.root <> OLD.root OR NEW.published_at <> OLD.published_at
  OR substr(NEW.note, 1, length(OLD.note)) <> OLD.note
BEGIN
    SELECT RAISE(ABORT, 'a published checkpoint keeps its size, root and signatures');
END;

CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
