-- API keys for the HTTP API: only a SHA-256 of each secret is stored.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    secret_hash BYTEA NOT NULL,
    scopes      TEXT  NOT NULL,
    created_at  TEXT  NOT NULL
);
