//! Tests of the schema as migrations leave it: ids never given out twice, and an upgrade of a
//! database an older release wrote keeping every row, after a backup.

use rusqlite::{Connection, OpenFlags, params};

use super::{Store, embedded, open_connection};

/// Inserts the smallest valid row into `table` (one of the four whose ids are never reused) and
/// returns its id. `parent` is the user of a token or the channel of a credential.
fn insert_row(c: &Connection, table: &str, name: &str, parent: i64) -> i64 {
    let (sql, values) = match table {
        "users" => (
            "INSERT INTO users (username, email, password_hash, role, created_at, updated_at) \
             VALUES (?1, ?1 || '@example.test', 'hash', 'user', 0, 0)",
            params![name],
        ),
        "tokens" => (
            "INSERT INTO tokens (user_id, name, key_hash, key_sealed, hint, created_at) \
             VALUES (?2, ?1, ?1, x'00', 'sk_...', 0)",
            params![name, parent],
        ),
        "channels" => (
            "INSERT INTO channels (name, kind, base_url, created_at, updated_at) \
             VALUES (?1, 'openai_compatible', 'https://example.test', 0, 0)",
            params![name],
        ),
        "credentials" => (
            "INSERT INTO credentials (channel_id, name, secret_sealed, hint, created_at, updated_at) \
             VALUES (?2, ?1, x'00', 'sk...', 0, 0)",
            params![name, parent],
        ),
        other => unreachable!("no such table here: {other}"),
    };
    c.execute(sql, values).expect("insert");
    c.last_insert_rowid()
}

/// A place for a database file, in a directory removed when the first value is dropped.
fn database_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("realms.db");
    (dir, path)
}

/// A connection to a database at `path` with the migrations up to `version` applied, as an
/// older release left it.
fn as_release_left_it(path: &std::path::Path, version: i32) -> Connection {
    let mut conn = open_connection(path).expect("open");
    embedded::migrations::runner()
        .set_target(refinery::Target::Version(version))
        .run(&mut conn)
        .expect("older migrations");
    conn
}

fn count(c: &Connection, table: &str) -> i64 {
    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

/// Deleting the newest user, API key, channel or credential and creating another gives the new
/// one a new id: the deleted one's usage history, stored responses and statistics (kept without
/// foreign keys) must not become the new one's.
#[tokio::test]
async fn ids_of_deleted_rows_are_never_given_out_again() {
    let store = Store::open_in_memory().expect("store");
    store
        .write(|tx| {
            let user = insert_row(tx, "users", "owner", 0);
            let channel = insert_row(tx, "channels", "main", 0);
            for (table, parent) in [
                ("users", 0),
                ("tokens", user),
                ("channels", 0),
                ("credentials", channel),
            ] {
                let deleted = insert_row(tx, table, "deleted", parent);
                tx.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [deleted])?;
                let next = insert_row(tx, table, "next", parent);
                assert!(
                    next > deleted,
                    "{table}: the new row got id {next}, the deleted one had {deleted}"
                );
            }
            Ok(())
        })
        .await
        .expect("written");
}

/// A database as release 6 left it, upgraded: every row of the rebuilt tables is still there
/// with what refers to it (a deleted user still takes their keys and sessions along), and the
/// next ids are past every id that usage rows, response owners and audit rows still name.
#[tokio::test]
async fn an_upgrade_keeps_every_row_and_gives_out_ids_past_those_still_named() {
    let tables = [
        "users",
        "tokens",
        "token_channel_groups",
        "sessions",
        "channels",
        "channel_group_members",
        "credentials",
        "codex_accounts",
    ];
    let (_dir, path) = database_file();
    let before: Vec<i64> = {
        let conn = as_release_left_it(&path, 6);
        let alice = insert_row(&conn, "users", "alice", 0);
        let bob = insert_row(&conn, "users", "bob", 0);
        insert_row(&conn, "tokens", "alice-key", alice);
        let bobs_key = insert_row(&conn, "tokens", "bob-key", bob);
        let channel = insert_row(&conn, "channels", "main", 0);
        insert_row(&conn, "credentials", "first", channel);
        let account = insert_row(&conn, "credentials", "account", channel);
        conn.execute_batch(&format!(
            "UPDATE tokens SET own_channel_groups = 1, models = '[\"gpt\"]' WHERE id = {bobs_key};
             INSERT INTO token_channel_groups (token_id, channel_group_id, position)
                 VALUES ({bobs_key}, 1, 0);
             INSERT INTO sessions (secret_hash, user_id, created_at, expires_at)
                 VALUES (x'01', {bob}, 0, 1);
             INSERT INTO channel_group_members (channel_group_id, channel_id) VALUES (1, {channel});
             INSERT INTO codex_accounts (id, channel_id, account_id, refresh_sealed, created_at, updated_at)
                 VALUES ({account}, {channel}, 'acct', x'00', 0, 0);
             INSERT INTO usage_events (time, request_id, user_id, token_id, channel_id, credential_id,
                                       endpoint, status_code)
                 VALUES (0, 'req', 7, 9, 4, 6, '/v1/chat/completions', 200);
             INSERT INTO response_owners (response_id, user_id, channel_id, credential_id, created_at)
                 VALUES ('resp_1', 8, 1, 1, 0);
             INSERT INTO audit_events (time, actor_kind, actor_id, action, target_kind, target_id)
                 VALUES (0, 'admin_key', NULL, 'channel.delete', 'channel', 5);"
        ))
        .expect("data");
        tables.iter().map(|t| count(&conn, t)).collect()
    };
    let (store, report) = Store::open(&path).await.expect("upgrade");
    assert!(report.applied.iter().any(|m| m == "ids_never_reused"));
    let (after, kept, next) = store
        .write(move |tx| {
            let after: Vec<i64> = tables.iter().map(|t| count(tx, t)).collect();
            let kept: (String, i64, String) = tx.query_row(
                "SELECT u.username, t.own_channel_groups, t.models FROM tokens t \
                 JOIN users u ON u.id = t.user_id WHERE t.name = 'bob-key'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            tx.execute("DELETE FROM users WHERE username = 'bob'", [])?;
            let next = [
                insert_row(tx, "users", "carol", 0),
                insert_row(tx, "tokens", "alice-second-key", 1),
                insert_row(tx, "channels", "second", 0),
                insert_row(tx, "credentials", "third", 1),
            ];
            Ok((after, kept, next))
        })
        .await
        .expect("read back");
    assert_eq!(after, before, "rows of {tables:?}");
    assert_eq!(kept, ("bob".to_owned(), 1, "[\"gpt\"]".to_owned()));
    assert_eq!(
        next,
        [9, 10, 6, 7],
        "next user, token, channel, credential ids"
    );
    let left = store
        .read(|c| {
            Ok([
                count(c, "tokens WHERE name = 'bob-key'"),
                count(c, "sessions"),
                count(c, "token_channel_groups"),
            ])
        })
        .await
        .expect("count");
    assert_eq!(
        left,
        [0, 0, 0],
        "bob's key, session and key's groups went with him"
    );
}

/// A row referring to nothing (a database edited by hand with enforcement off) neither stops
/// an upgrade nor is touched by it.
#[tokio::test]
async fn a_dangling_reference_made_by_hand_does_not_stop_an_upgrade() {
    let (_dir, path) = database_file();
    {
        as_release_left_it(&path, 6)
            .execute_batch(
                "PRAGMA foreign_keys = OFF;
             INSERT INTO sessions (secret_hash, user_id, created_at, expires_at)
                 VALUES (x'01', 99, 0, 1);",
            )
            .expect("dangling row");
    }
    let (store, report) = Store::open(&path).await.expect("the upgrade goes on");
    assert!(!report.applied.is_empty());
    let left = store
        .read(|c| Ok(count(c, "sessions WHERE user_id = 99")))
        .await
        .expect("count");
    assert_eq!(left, 1);
}

#[tokio::test]
async fn an_upgrade_backs_the_database_up_first() {
    let (dir, path) = database_file();
    {
        // only the first migration, and some data
        let conn = as_release_left_it(&path, 1);
        conn.execute(
            "INSERT INTO settings (key, value, updated_at) VALUES ('kept', '1', 0)",
            [],
        )
        .expect("data");
    }
    let (store, report) = Store::open(&path).await.expect("upgrade");
    assert!(!report.applied.is_empty(), "the newer migrations ran");
    let backup = report.backup.expect("a backup was taken");
    assert!(backup.starts_with(dir.path().join("backup")));
    let copy = Connection::open_with_flags(&backup, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("backup opens");
    let kept: String = copy
        .query_row("SELECT value FROM settings WHERE key = 'kept'", [], |r| {
            r.get(0)
        })
        .expect("row");
    assert_eq!(kept, "1", "the backup holds the data as it was");
    let versions: i64 = copy
        .query_row(
            "SELECT MAX(version) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .expect("history");
    assert_eq!(versions, 1, "the backup is the pre-upgrade schema");
    assert!(store.ping().await);
}
