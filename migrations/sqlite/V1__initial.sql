-- Realms schema, version 1. Times are INTEGER unix milliseconds (UTC); money is TEXT holding an
-- exact decimal in USD; secrets are BLOBs sealed with the master key (never plain text).

CREATE TABLE channel_groups (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL UNIQUE,
    description      TEXT    NOT NULL DEFAULT '',
    parent_id        INTEGER REFERENCES channel_groups (id) ON DELETE RESTRICT,
    price_multiplier TEXT    NOT NULL DEFAULT '1',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE user_groups (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE user_group_channel_groups (
    user_group_id    INTEGER NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    channel_group_id INTEGER NOT NULL REFERENCES channel_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_group_id, channel_group_id)
);

-- A fresh install works without any group set-up: one channel group and one user group that allows it.
INSERT INTO channel_groups (id, name, description, price_multiplier, created_at, updated_at)
VALUES (1, 'default', 'Every new channel joins this group', '1', 0, 0);
INSERT INTO user_groups (id, name, description, created_at, updated_at)
VALUES (1, 'default', 'Every new user joins this group', 0, 0);
INSERT INTO user_group_channel_groups (user_group_id, channel_group_id) VALUES (1, 1);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('root', 'user')),
    status        TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    user_group_id INTEGER NOT NULL DEFAULT 1 REFERENCES user_groups (id) ON DELETE RESTRICT,
    balance_usd   TEXT    NOT NULL DEFAULT '0',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    secret_hash  BLOB    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    key_hash     BLOB    NOT NULL UNIQUE,
    key_sealed   BLOB    NOT NULL,
    hint         TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    models       TEXT,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at   INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE token_channel_groups (
    token_id         INTEGER NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    channel_group_id INTEGER NOT NULL REFERENCES channel_groups (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    PRIMARY KEY (token_id, channel_group_id)
);

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE channels (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL CHECK (kind IN ('openai_compatible', 'anthropic', 'gemini', 'codex_oauth')),
    base_url   TEXT    NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    priority   INTEGER NOT NULL DEFAULT 0,
    weight     INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 0),
    promoted   INTEGER NOT NULL DEFAULT 0,
    settings   TEXT    NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE channel_group_members (
    channel_group_id INTEGER NOT NULL REFERENCES channel_groups (id) ON DELETE CASCADE,
    channel_id       INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    PRIMARY KEY (channel_group_id, channel_id)
);

CREATE TABLE credentials (
    id            INTEGER PRIMARY KEY,
    channel_id    INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL DEFAULT '',
    secret_sealed BLOB    NOT NULL,
    hint          TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX credentials_channel ON credentials (channel_id);

CREATE TABLE models (
    id                      INTEGER PRIMARY KEY,
    public_id               TEXT    NOT NULL UNIQUE,
    owned_by                TEXT    NOT NULL DEFAULT 'realms',
    description             TEXT    NOT NULL DEFAULT '',
    input_usd_per_1m        TEXT    NOT NULL DEFAULT '0',
    output_usd_per_1m       TEXT    NOT NULL DEFAULT '0',
    cached_input_usd_per_1m TEXT    NOT NULL DEFAULT '0',
    cache_write_usd_per_1m  TEXT    NOT NULL DEFAULT '0',
    enabled                 INTEGER NOT NULL DEFAULT 1,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
);

CREATE TABLE channel_models (
    id             INTEGER PRIMARY KEY,
    channel_id     INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    model_id       INTEGER NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    upstream_model TEXT,
    enabled        INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL,
    UNIQUE (channel_id, model_id)
);

-- Usage rows keep plain ids (no foreign keys): a record must never be refused because the user,
-- token or channel it names was deleted while the request was in flight.
CREATE TABLE usage_events (
    id                     INTEGER PRIMARY KEY,
    time                   INTEGER NOT NULL,
    request_id             TEXT    NOT NULL,
    user_id                INTEGER,
    token_id               INTEGER,
    model                  TEXT    NOT NULL DEFAULT '',
    forwarded_model        TEXT,
    upstream_model         TEXT,
    channel_id             INTEGER,
    credential_id          INTEGER,
    endpoint               TEXT    NOT NULL,
    is_stream              INTEGER NOT NULL DEFAULT 0,
    status_code            INTEGER NOT NULL,
    error_class            TEXT,
    latency_ms             INTEGER NOT NULL DEFAULT 0,
    first_token_latency_ms INTEGER,
    request_bytes          INTEGER NOT NULL DEFAULT 0,
    response_bytes         INTEGER NOT NULL DEFAULT 0,
    input_tokens           INTEGER NOT NULL DEFAULT 0,
    cached_input_tokens    INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens          INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens       INTEGER NOT NULL DEFAULT 0,
    cost_usd               TEXT    NOT NULL DEFAULT '0',
    upstream_usage         TEXT,
    partial                INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX usage_events_user ON usage_events (user_id, id);
CREATE INDEX usage_events_time ON usage_events (time);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY,
    time        INTEGER NOT NULL,
    actor_kind  TEXT    NOT NULL CHECK (actor_kind IN ('user', 'admin_key', 'system')),
    actor_id    INTEGER,
    action      TEXT    NOT NULL,
    target_kind TEXT    NOT NULL DEFAULT '',
    target_id   INTEGER,
    detail      TEXT    NOT NULL DEFAULT '{}',
    ip          TEXT
);
CREATE INDEX audit_events_time ON audit_events (time);

CREATE TABLE login_failures (
    id    INTEGER PRIMARY KEY,
    time  INTEGER NOT NULL,
    login TEXT    NOT NULL,
    ip    TEXT    NOT NULL
);
CREATE INDEX login_failures_login ON login_failures (login, time);
CREATE INDEX login_failures_ip ON login_failures (ip, time);
