//! `realms_core::start` over a real data directory: it creates the master key (0600) and the
//! database, a restart keeps users and sealed tokens, and a missing or wrong master key stops the
//! start with an error that says so instead of serving secrets it cannot open.

pub mod common;

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use common::{PASSWORD, Req, TestApp, test_config};
use realms_core::Config;
use realms_core::config::Secret;
use serde_json::json;

fn config_for(data_dir: &Path) -> Config {
    let mut config = test_config();
    config.data_dir = Some(data_dir.to_path_buf());
    config
}

/// Starts over `data_dir`, registers `alice`, creates a token; returns its id and key.
async fn seed(data_dir: &Path) -> (i64, String) {
    let app = TestApp::start(config_for(data_dir)).await;
    let alice = app.register("alice").await;
    let resp = app
        .send(
            Req::post("/api/tokens")
                .session(&alice)
                .json(json!({ "name": "ci" })),
        )
        .await;
    resp.assert_status(StatusCode::CREATED);
    let created = resp.json();
    let (id, key) = (created["id"].as_i64(), created["key"].as_str());
    assert!(id.is_some() && key.is_some(), "{created}");
    (id.unwrap_or_default(), key.unwrap_or_default().to_owned())
}

fn data_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("realms-data")
}

#[tokio::test]
async fn first_start_creates_a_private_key_file_and_the_database() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = data_dir(&tmp);
    let app = TestApp::start(config_for(&dir)).await;
    let key_file = dir.join("master.key");
    assert!(key_file.is_file(), "master.key created");
    assert!(dir.join("realms.db").is_file(), "database created");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(
            mode(&key_file),
            0o600,
            "the key is readable by its owner only"
        );
        assert_eq!(mode(&dir), 0o700, "so is the data directory");
    }
    app.send(Req::get("/healthz"))
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(
        app.send(Req::get("/healthz")).await.json()["db_ok"],
        json!(true)
    );
}

#[tokio::test]
async fn a_restart_keeps_users_tokens_and_the_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = data_dir(&tmp);
    let (id, key) = seed(&dir).await;
    let key_text = std::fs::read_to_string(dir.join("master.key")).expect("key file");

    let app = TestApp::start(config_for(&dir)).await;
    assert_eq!(
        std::fs::read_to_string(dir.join("master.key")).expect("key file"),
        key_text,
        "the key file is reused, never replaced"
    );
    let alice = app.login("alice", PASSWORD).await;
    let resp = app
        .send(Req::post(&format!("/api/tokens/{id}/reveal")).session(&alice))
        .await;
    resp.assert_status(StatusCode::OK);
    assert_eq!(
        resp.json()["key"],
        json!(key),
        "the sealed key opens after a restart"
    );
    // The first registrant is still the only root; a newcomer is a user.
    let bob = app
        .send(Req::post("/api/auth/register").json(json!({
            "username": "bob", "email": "bob@example.test", "password": PASSWORD,
        })))
        .await;
    assert_eq!(bob.json()["user"]["role"], json!("user"));
}

#[tokio::test]
async fn a_lost_key_file_stops_the_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = data_dir(&tmp);
    seed(&dir).await;
    std::fs::remove_file(dir.join("master.key")).expect("remove key");
    let err = realms_core::start(config_for(&dir))
        .await
        .err()
        .expect("start refuses");
    let text = err.to_string();
    assert!(text.contains("master key"), "{text}");
    assert!(text.contains("master.key"), "{text}");
    assert!(
        !dir.join("master.key").exists(),
        "no new key replaces the lost one"
    );
}

#[tokio::test]
async fn a_wrong_or_malformed_configured_key_stops_the_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = data_dir(&tmp);
    seed(&dir).await;
    for (name, key) in [
        ("another valid key", "11".repeat(32)),
        ("malformed key", "not-a-key".to_owned()),
    ] {
        let mut config = config_for(&dir);
        config.master_key = Some(Secret::new(key.clone()));
        let err = realms_core::start(config)
            .await
            .err()
            .unwrap_or_else(|| panic!("case {name}: start refuses"));
        let text = err.to_string();
        assert!(text.contains("master key"), "case {name}: {text}");
        assert!(
            !text.contains(&key),
            "case {name}: the key is not echoed: {text}"
        );
    }
    // The right key from the file still works.
    TestApp::start(config_for(&dir)).await;
}

#[tokio::test]
async fn a_configured_key_is_used_instead_of_a_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = data_dir(&tmp);
    let mut config = config_for(&dir);
    config.master_key = Some(Secret::new("ab".repeat(32)));
    {
        let app = TestApp::start(config.clone()).await;
        app.register("alice").await;
    }
    assert!(
        !dir.join("master.key").exists(),
        "no key file with a configured key"
    );
    let app = TestApp::start(config).await;
    app.login("alice", PASSWORD).await;
    // Without the key the database's secrets cannot be opened.
    let err = realms_core::start(config_for(&dir))
        .await
        .err()
        .expect("start refuses without the key");
    assert!(err.to_string().contains("master key"), "{err}");
}

#[tokio::test]
async fn channel_settings_secrets_stored_in_plain_text_are_sealed_at_start() {
    const PROXY: &str = "http://relay:legacy-pass@proxy.example:3128/";
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = data_dir(&tmp);
    let id = {
        let app = TestApp::start(config_for(&dir)).await;
        let resp = app
            .send(Req::post("/api/admin/channels").admin_key().json(json!({
                "type": "openai_compatible", "name": "legacy",
            })))
            .await;
        resp.assert_status(StatusCode::CREATED);
        let id = resp.json()["channel"]["id"].as_i64().expect("id");
        // as a version before sealing stored them
        let legacy = json!({ "proxy": PROXY, "headers": { "x-api-key": "legacy-key-0123456789" } });
        app.state
            .store
            .write(move |tx| {
                tx.execute(
                    "UPDATE channels SET settings = ?2 WHERE id = ?1",
                    rusqlite::params![id, legacy.to_string()],
                )?;
                Ok(())
            })
            .await
            .expect("write plain settings");
        id
    };

    let app = TestApp::start(config_for(&dir)).await;
    let stored: String = app
        .state
        .store
        .read(move |c| {
            Ok(
                c.query_row("SELECT settings FROM channels WHERE id = ?1", [id], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
        .expect("stored settings");
    assert!(
        !stored.contains("legacy-pass") && !stored.contains("legacy-key"),
        "{stored}"
    );
    let resp = app
        .send(Req::get(&format!("/api/admin/channels/{id}")).admin_key())
        .await;
    resp.assert_status(StatusCode::OK);
    assert_eq!(
        resp.json()["channel"]["settings"],
        json!({
            "proxy": "http://relay:****@proxy.example:3128/",
            "headers": { "x-api-key": "…6789" },
        })
    );
}
