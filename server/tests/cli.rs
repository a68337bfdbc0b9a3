//! The `realms` command line as an operator uses it: version, effective config, refusing bad
//! config, migrate, backup, and the admin commands that work without the console.
#![cfg(test)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `realms` in `dir` with only the given environment (nothing inherited, no `.env`).
fn realms(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_realms"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("REALMS_DATA_DIR", dir.join("data"))
        .env("REALMS_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("realms runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("realms exits")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_names_the_build() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [&["--version"][..], &["version"][..]] {
        let out = realms(dir.path(), args, &[], None);
        assert!(out.status.success());
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(env!("CARGO_PKG_VERSION")) && stdout.contains("built"),
            "{stdout}"
        );
    }
}

#[test]
fn config_is_printed_with_secrets_redacted_and_bad_keys_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = "a-secret-admin-key-0123456789";
    let out = realms(
        dir.path(),
        &["config"],
        &[("REALMS_ADMIN_API_KEY", key)],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[redacted]") && !stdout.contains(key),
        "{stdout}"
    );

    let out = realms(
        dir.path(),
        &["config"],
        &[("REALMS_ADRR", "127.0.0.1:1")],
        None,
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("adrr"), "{}", text(&out.stderr));
    let out = realms(
        dir.path(),
        &["config"],
        &[("REALMS_LIMITS__MAX_BODY_BYTES", "lots")],
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("limits.max_body_bytes"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn migrate_backup_and_admin_commands_work_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = realms(dir.path(), &["migrate"], &[], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("data").join("realms.db").exists());

    let out = realms(
        dir.path(),
        &["admin", "create-root", "--username", "boss"],
        &[],
        Some("a long password\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("boss"));
    let out = realms(
        dir.path(),
        &["admin", "create-root", "--username", "weak"],
        &[],
        Some("short\n"),
    );
    assert!(!out.status.success(), "a short password is refused");
    let out = realms(
        dir.path(),
        &["admin", "reset-password", "boss"],
        &[],
        Some("another long password\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = realms(
        dir.path(),
        &["admin", "reset-password", "nobody"],
        &[],
        Some("another long password\n"),
    );
    assert!(!out.status.success());

    let copy = dir.path().join("copy.db");
    let out = realms(
        dir.path(),
        &["backup", copy.to_str().expect("path")],
        &[],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let conn =
        rusqlite::Connection::open_with_flags(&copy, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("backup opens");
    let users: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM users WHERE username = 'boss'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(users, 1, "the backup holds the data");
    let out = realms(
        dir.path(),
        &["backup", copy.to_str().expect("path")],
        &[],
        None,
    );
    assert!(
        !out.status.success(),
        "an existing file is never overwritten"
    );
}
