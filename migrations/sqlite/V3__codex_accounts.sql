-- ChatGPT accounts of `codex_oauth` channels. Each account owns the `credentials` row with the
-- same id: that row is its routing identity (channel, enabled/disabled status) and holds the
-- sealed access token as its secret, so cooldowns, session stickiness, usage records and stored
-- response owners name an account exactly as they name an API key, with no id clashes. The
-- refresh and id tokens are sealed here; no token is ever stored in plain text.
CREATE TABLE codex_accounts (
    id                       INTEGER PRIMARY KEY REFERENCES credentials (id) ON DELETE CASCADE,
    channel_id               INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    account_id               TEXT    NOT NULL,
    email                    TEXT    NOT NULL DEFAULT '',
    plan                     TEXT    NOT NULL DEFAULT '',
    refresh_sealed           BLOB    NOT NULL,
    id_token_sealed          BLOB,
    expires_at               INTEGER,
    last_refresh_at          INTEGER,
    refresh_failures         INTEGER NOT NULL DEFAULT 0,
    next_refresh_at          INTEGER,
    last_error               TEXT,
    primary_used_percent     REAL,
    primary_reset_at         INTEGER,
    primary_window_minutes   INTEGER,
    secondary_used_percent   REAL,
    secondary_reset_at       INTEGER,
    secondary_window_minutes INTEGER,
    quota_updated_at         INTEGER,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL,
    UNIQUE (channel_id, account_id)
);
CREATE INDEX codex_accounts_expiry ON codex_accounts (expires_at);

-- Pending OAuth sign-ins: looked up by the SHA-256 of their `state`, bound to the admin who
-- started them and to one channel; the PKCE verifier is sealed. Used once, then deleted.
CREATE TABLE oauth_flows (
    state_hash      BLOB    PRIMARY KEY,
    channel_id      INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    actor_kind      TEXT    NOT NULL CHECK (actor_kind IN ('user', 'admin_key')),
    actor_id        INTEGER,
    verifier_sealed BLOB    NOT NULL,
    redirect_uri    TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX oauth_flows_expiry ON oauth_flows (expires_at);
