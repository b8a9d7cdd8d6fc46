-- Where each follower of the log (the Kafka relay, the recipient notifier)
-- has got to: the next sequence number it will handle.
CREATE TABLE cursors (
    name     TEXT    PRIMARY KEY,
    next_seq INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Recipient notifications given up on after the last retry.
CREATE TABLE dead_letters (
    seq        INTEGER NOT NULL,
    recipient  TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    last_error TEXT    NOT NULL,
    failed_at  TEXT    NOT NULL,
    PRIMARY KEY (seq, recipient)
) STRICT, WITHOUT ROWID;
