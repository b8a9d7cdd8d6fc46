-- The Merkle tree over the log, as C2SP tlog-tiles lays it out: tile
-- (level, idx) holds up to 256 32-byte hashes of tree height 8·level.
-- The last tile of a level is rewritten longer as it fills; a stored tile
-- may only grow (its old bytes stay a prefix) and is never deleted.
CREATE TABLE tiles (
    level  INTEGER NOT NULL,
    idx    BIGINT  NOT NULL,
    hashes BYTEA   NOT NULL,
    PRIMARY KEY (level, idx)
);
ALTER TABLE tiles ALTER COLUMN hashes SET STORAGE EXTERNAL;

CREATE FUNCTION tiles_only_grow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'tiles are append-only';
    END IF;
    IF NEW.level <> OLD.level OR NEW.idx <> OLD.idx
       OR length(NEW.hashes) < length(OLD.hashes)
       OR substring(NEW.hashes FROM 1 FOR length(OLD.hashes)) <> OLD.hashes THEN
        RAISE EXCEPTION 'tiles only grow';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER tiles_only_grow BEFORE UPDATE OR DELETE ON tiles
    FOR EACH ROW EXECUTE FUNCTION tiles_only_grow();

-- Every published checkpoint (C2SP signed note); cosignatures collected
-- later are appended to `note`, nothing else changes.
CREATE TABLE checkpoints (
    size         BIGINT PRIMARY KEY,
    root         BYTEA  NOT NULL,
    note         TEXT   NOT NULL,
    published_at TEXT   NOT NULL
);

CREATE FUNCTION checkpoints_keep_root() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.size <> OLD.size OR NEW.root <> OLD.root
       OR NEW.published_at <> OLD.published_at
       OR substring(NEW.note FROM 1 FOR length(OLD.note)) <> OLD.note THEN
        RAISE EXCEPTION 'a published checkpoint keeps its size, root and signatures';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER checkpoints_keep_root BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION checkpoints_keep_root();
