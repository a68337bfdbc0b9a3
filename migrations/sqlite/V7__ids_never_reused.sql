-- Ids of users, API keys (tokens), channels and credentials are never given out twice. Without
-- AUTOINCREMENT SQLite hands the next row the largest id in use plus one, so deleting the newest
-- user and creating another gave the new one the old id, and with it whatever still names that
-- id without a foreign key: the deleted user's usage history, their stored responses
-- (`response_owners`), their responses still to be billed; a new key or channel inherited the old
-- one's usage statistics the same way.
--
-- Each table is rebuilt as SQLite documents for a change it cannot ALTER: created under a new
-- name, filled, the old one dropped, the new one renamed. The store runs migrations with foreign
-- key enforcement off (dropping a table would otherwise delete its rows' dependants) and checks
-- every foreign key afterwards. The next id is then past every id that any row still names, so
-- ids deleted before this migration are not given out again either.

CREATE TABLE users_v7 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO users_v7 (id, username, email, password_hash, role, status, user_group_id,
                      balance_usd, created_at, updated_at)
SELECT id, username, email, password_hash, role, status, user_group_id,
       balance_usd, created_at, updated_at
FROM users;
DROP TABLE users;
ALTER TABLE users_v7 RENAME TO users;

CREATE TABLE tokens_v7 (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name               TEXT    NOT NULL,
    key_hash           BLOB    NOT NULL UNIQUE,
    key_sealed         BLOB    NOT NULL,
    hint               TEXT    NOT NULL,
    status             TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    models             TEXT,
    created_at         INTEGER NOT NULL,
    last_used_at       INTEGER,
    expires_at         INTEGER,
    revoked_at         INTEGER,
    own_channel_groups INTEGER NOT NULL DEFAULT 0
);
INSERT INTO tokens_v7 (id, user_id, name, key_hash, key_sealed, hint, status, models, created_at,
                       last_used_at, expires_at, revoked_at, own_channel_groups)
SELECT id, user_id, name, key_hash, key_sealed, hint, status, models, created_at,
       last_used_at, expires_at, revoked_at, own_channel_groups
FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_v7 RENAME TO tokens;
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE channels_v7 (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO channels_v7 (id, name, kind, base_url, status, priority, weight, promoted, settings,
                         created_at, updated_at)
SELECT id, name, kind, base_url, status, priority, weight, promoted, settings,
       created_at, updated_at
FROM channels;
DROP TABLE channels;
ALTER TABLE channels_v7 RENAME TO channels;

CREATE TABLE credentials_v7 (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id    INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL DEFAULT '',
    secret_sealed BLOB    NOT NULL,
    hint          TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
INSERT INTO credentials_v7 (id, channel_id, name, secret_sealed, hint, status, created_at,
                            updated_at)
SELECT id, channel_id, name, secret_sealed, hint, status, created_at, updated_at
FROM credentials;
DROP TABLE credentials;
ALTER TABLE credentials_v7 RENAME TO credentials;
CREATE INDEX credentials_channel ON credentials (channel_id);

-- Past every id still named anywhere: rows kept without foreign keys outlive what they name.
-- (Replaces the rows the copies above gave `sqlite_sequence`, which a table left empty lacks.)
DELETE FROM sqlite_sequence WHERE name IN ('users', 'tokens', 'channels', 'credentials');
INSERT INTO sqlite_sequence (name, seq) SELECT 'users', max(
    coalesce((SELECT max(id) FROM users), 0),
    coalesce((SELECT max(user_id) FROM usage_events), 0),
    coalesce((SELECT max(user_id) FROM response_owners), 0),
    coalesce((SELECT max(user_id) FROM unbilled_responses), 0),
    coalesce((SELECT max(actor_id) FROM audit_events WHERE actor_kind = 'user'), 0),
    coalesce((SELECT max(actor_id) FROM oauth_flows WHERE actor_kind = 'user'), 0),
    coalesce((SELECT max(target_id) FROM audit_events WHERE target_kind = 'user'), 0)
);
INSERT INTO sqlite_sequence (name, seq) SELECT 'tokens', max(
    coalesce((SELECT max(id) FROM tokens), 0),
    coalesce((SELECT max(token_id) FROM usage_events), 0),
    coalesce((SELECT max(target_id) FROM audit_events WHERE target_kind = 'token'), 0)
);
INSERT INTO sqlite_sequence (name, seq) SELECT 'channels', max(
    coalesce((SELECT max(id) FROM channels), 0),
    coalesce((SELECT max(channel_id) FROM usage_events), 0),
    coalesce((SELECT max(channel_id) FROM response_owners), 0),
    coalesce((SELECT max(target_id) FROM audit_events WHERE target_kind = 'channel'), 0)
);
INSERT INTO sqlite_sequence (name, seq) SELECT 'credentials', max(
    coalesce((SELECT max(id) FROM credentials), 0),
    coalesce((SELECT max(credential_id) FROM usage_events), 0),
    coalesce((SELECT max(credential_id) FROM response_owners), 0),
    coalesce((SELECT max(target_id) FROM audit_events
              WHERE target_kind IN ('credential', 'codex_account')), 0)
);
