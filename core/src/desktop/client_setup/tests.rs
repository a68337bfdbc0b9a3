//! The set-up on temporary home folders: fresh files, files with the person's own settings,
//! applying twice, undo (byte for byte, permissions, removed files and folders), files edited
//! after the set-up, malformed files, links, and the plan's wording.

use std::fs;
use std::path::Path;

use super::*;

const BASE: &str = "http://127.0.0.1:8080";
const TOKEN: &str = "sk_desktop-test-token_0123456789";

/// Per tool: a file with the person's own settings, a text that must survive the merge, and a
/// file that does not parse.
struct Fixture {
    tool: ClientTool,
    existing: &'static str,
    kept: &'static [&'static str],
    malformed: &'static str,
}

const FIXTURES: [Fixture; 3] = [
    Fixture {
        tool: ClientTool::CodexCli,
        existing: "# my codex settings\nmodel = \"gpt-5\" # default\n\n[tui]\nnotifications = true\n",
        kept: &[
            "# my codex settings",
            "model = \"gpt-5\" # default",
            "notifications = true",
        ],
        malformed: "model = \n",
    },
    Fixture {
        tool: ClientTool::ClaudeCode,
        existing: "{\n  \"model\": \"opus\",\n  \"env\": { \"FOO\": \"1\" }\n}\n",
        kept: &["\"model\": \"opus\"", "\"FOO\": \"1\""],
        malformed: "{ \"env\": ",
    },
    Fixture {
        tool: ClientTool::GeminiCli,
        existing: "# my gemini settings\nGEMINI_MODEL=gemini-2.5-pro\n",
        kept: &["# my gemini settings\n", "GEMINI_MODEL=gemini-2.5-pro\n"],
        malformed: "this line sets nothing\n",
    },
];

/// What each tool's file must say after the set-up.
fn assert_points_at_realms(tool: ClientTool, text: &str) {
    let expected: &[&str] = match tool {
        ClientTool::CodexCli => &[
            "model_provider = \"realms\"",
            "[model_providers.realms]",
            "base_url = \"http://127.0.0.1:8080/v1\"",
            "wire_api = \"responses\"",
            "experimental_bearer_token = \"sk_desktop-test-token_0123456789\"",
        ],
        ClientTool::ClaudeCode => &[
            "\"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:8080\"",
            "\"ANTHROPIC_AUTH_TOKEN\": \"sk_desktop-test-token_0123456789\"",
        ],
        ClientTool::GeminiCli => &[
            "GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8080\n",
            "GEMINI_API_KEY=sk_desktop-test-token_0123456789\n",
        ],
    };
    for line in expected {
        assert!(text.contains(line), "{tool:?} lacks {line:?}:\n{text}");
    }
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp home")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).expect("file reads")
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn write_existing(home: &Path, tool: ClientTool, text: &str) -> std::path::PathBuf {
    let path = tool.config_path(home);
    fs::create_dir_all(path.parent().expect("parent")).expect("tool dir");
    fs::write(&path, text).expect("existing file");
    path
}

#[test]
fn a_fresh_home_gets_the_file_and_undo_removes_it_and_its_folder() {
    for tool in ClientTool::ALL {
        let home = home();
        let path = tool.config_path(home.path());
        let outcome = apply(tool, home.path(), BASE, TOKEN).expect("applied");
        assert_eq!(outcome.files_written, vec![path.clone()], "{tool:?}");
        assert!(
            outcome.backups.is_empty() && !outcome.already_applied,
            "{tool:?}"
        );
        assert_points_at_realms(tool, &read(&path));
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600, "{tool:?}: the token file is owner-only");
        assert!(is_applied(tool, home.path()), "{tool:?}");

        undo(tool, home.path()).expect("undone");
        assert!(
            !path.exists(),
            "{tool:?}: a file that was not there is removed"
        );
        assert!(
            !path.parent().expect("dir").exists(),
            "{tool:?}: the folder Realms created is removed"
        );
        assert!(!is_applied(tool, home.path()), "{tool:?}");
    }
}

#[test]
fn an_existing_file_is_backed_up_merged_and_restored_byte_for_byte() {
    for fixture in &FIXTURES {
        let tool = fixture.tool;
        let home = home();
        let path = write_existing(home.path(), tool, fixture.existing);
        #[cfg(unix)]
        set_mode(&path, 0o644);
        let outcome = apply(tool, home.path(), BASE, TOKEN).expect("applied");
        assert_eq!(outcome.backups.len(), 1, "{tool:?}");
        assert_eq!(
            read(&outcome.backups[0]),
            fixture.existing,
            "{tool:?}: the backup is the original"
        );
        let merged = read(&path);
        assert_points_at_realms(tool, &merged);
        for kept in fixture.kept {
            assert!(merged.contains(kept), "{tool:?} lost {kept:?}:\n{merged}");
        }
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600, "{tool:?}");

        undo(tool, home.path()).expect("undone");
        assert_eq!(read(&path), fixture.existing, "{tool:?}: byte for byte");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o644, "{tool:?}: permissions restored");
        assert!(
            !tool.backup_dir(home.path()).exists(),
            "{tool:?}: the backup is gone after undo"
        );
        assert!(
            path.parent().expect("dir").is_dir(),
            "{tool:?}: the person's folder stays"
        );
    }
}

#[test]
fn applying_twice_keeps_the_original_backup_and_undo_still_restores_it() {
    for fixture in &FIXTURES {
        let tool = fixture.tool;
        let home = home();
        let path = write_existing(home.path(), tool, fixture.existing);
        let first = apply(tool, home.path(), BASE, TOKEN).expect("first");
        let after_first = read(&path);
        let second = apply(tool, home.path(), BASE, TOKEN).expect("second");
        assert!(second.already_applied, "{tool:?}");
        assert_eq!(read(&path), after_first, "{tool:?}: the same file again");
        assert_eq!(
            read(&first.backups[0]),
            fixture.existing,
            "{tool:?}: Realms' own output never replaces the original backup"
        );
        undo(tool, home.path()).expect("undone");
        assert_eq!(read(&path), fixture.existing, "{tool:?}");
    }
}

#[test]
fn a_new_token_or_address_refreshes_the_set_up() {
    let home = home();
    apply(ClientTool::GeminiCli, home.path(), BASE, TOKEN).expect("first");
    apply(
        ClientTool::GeminiCli,
        home.path(),
        "http://127.0.0.1:9090/",
        "sk_another",
    )
    .expect("second");
    let text = read(&ClientTool::GeminiCli.config_path(home.path()));
    assert_eq!(
        text,
        "GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:9090\nGEMINI_API_KEY=sk_another\n"
    );
}

#[test]
fn a_malformed_file_is_refused_and_left_untouched() {
    for fixture in &FIXTURES {
        let tool = fixture.tool;
        let home = home();
        let path = write_existing(home.path(), tool, fixture.malformed);
        let err = apply(tool, home.path(), BASE, TOKEN).expect_err("refused");
        assert!(
            matches!(err, SetupError::Malformed { .. }),
            "{tool:?}: {err}"
        );
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("nothing was changed"), "{message}");
        assert!(!message.contains(TOKEN), "{message}");
        assert_eq!(read(&path), fixture.malformed, "{tool:?}");
        assert!(
            !tool.backup_dir(home.path()).exists(),
            "{tool:?}: no backup"
        );
        assert!(!is_applied(tool, home.path()), "{tool:?}");
    }
    let home = home();
    let path = ClientTool::ClaudeCode.config_path(home.path());
    fs::create_dir_all(path.parent().expect("dir")).expect("dir");
    fs::write(&path, b"{\"a\": \"\xff\"}").expect("binary");
    let err = apply(ClientTool::ClaudeCode, home.path(), BASE, TOKEN).expect_err("refused");
    assert!(err.to_string().contains("UTF-8"), "{err}");
}

#[test]
fn undo_keeps_a_version_edited_after_the_set_up() {
    let home = home();
    let tool = ClientTool::CodexCli;
    let path = write_existing(home.path(), tool, FIXTURES[0].existing);
    apply(tool, home.path(), BASE, TOKEN).expect("applied");
    let edited = format!("{}\n[history]\npersistence = \"none\"\n", read(&path));
    fs::write(&path, &edited).expect("edit");
    undo(tool, home.path()).expect("undone");
    assert_eq!(read(&path), FIXTURES[0].existing);
    let aside = path.with_file_name(format!("config.toml{}", files::SET_ASIDE_SUFFIX));
    assert_eq!(read(&aside), edited, "the edited version is kept");
}

#[test]
fn undo_without_a_set_up_says_so() {
    let home = home();
    let err = undo(ClientTool::ClaudeCode, home.path()).expect_err("nothing to undo");
    assert!(
        matches!(err, SetupError::NotApplied("Claude Code")),
        "{err}"
    );
}

#[test]
fn a_folder_that_existed_stays_when_undo_removes_the_file() {
    let home = home();
    let tool = ClientTool::ClaudeCode;
    let dir = home.path().join(".claude");
    fs::create_dir_all(&dir).expect("dir");
    apply(tool, home.path(), BASE, TOKEN).expect("applied");
    undo(tool, home.path()).expect("undone");
    assert!(!tool.config_path(home.path()).exists());
    assert!(dir.is_dir());
}

#[cfg(unix)]
#[test]
fn a_linked_file_keeps_its_link_and_the_target_is_set_up() {
    let home = home();
    let dotfiles = home.path().join("dotfiles");
    fs::create_dir_all(&dotfiles).expect("dotfiles");
    let real = dotfiles.join("gemini.env");
    fs::write(&real, "A=1\n").expect("real file");
    let tool = ClientTool::GeminiCli;
    let link = tool.config_path(home.path());
    fs::create_dir_all(link.parent().expect("dir")).expect("dir");
    std::os::unix::fs::symlink(&real, &link).expect("link");
    apply(tool, home.path(), BASE, TOKEN).expect("applied");
    assert!(
        fs::symlink_metadata(&link)
            .expect("meta")
            .file_type()
            .is_symlink()
    );
    assert_points_at_realms(tool, &read(&real));
    undo(tool, home.path()).expect("undone");
    assert!(
        fs::symlink_metadata(&link)
            .expect("meta")
            .file_type()
            .is_symlink()
    );
    assert_eq!(read(&real), "A=1\n");
}

#[test]
fn the_plan_names_the_file_the_backup_and_the_changes_without_the_token() {
    let home = home();
    let tool = ClientTool::CodexCli;
    let fresh = plan(tool, home.path(), "http://127.0.0.1:8080/");
    assert!(!fresh.already_applied && !fresh.files[0].exists);
    assert_eq!(fresh.files[0].path, tool.config_path(home.path()));
    assert!(fresh.summary.contains("will create"), "{}", fresh.summary);
    assert!(
        fresh.summary.contains("http://127.0.0.1:8080/v1"),
        "{}",
        fresh.summary
    );

    write_existing(home.path(), tool, FIXTURES[0].existing);
    let existing = plan(tool, home.path(), BASE);
    let backup = existing.files[0]
        .backup
        .clone()
        .expect("a backup is planned");
    assert!(
        existing.summary.contains(&backup.display().to_string()),
        "{}",
        existing.summary
    );
    assert!(
        existing.summary.contains("will change"),
        "{}",
        existing.summary
    );

    apply(tool, home.path(), BASE, TOKEN).expect("applied");
    let again = plan(tool, home.path(), BASE);
    assert!(again.already_applied);
    assert!(
        again.files[0].backup.is_none(),
        "the first backup stays the one"
    );
    for plan in [fresh, existing, again] {
        assert!(!plan.summary.contains(TOKEN) && !plan.changes.concat().contains(TOKEN));
    }
}

#[test]
fn bad_addresses_and_tokens_are_refused_before_anything_is_written() {
    let home = home();
    for base in ["127.0.0.1:8080", "ftp://127.0.0.1", "", "http://"] {
        let err = apply(ClientTool::GeminiCli, home.path(), base, TOKEN).expect_err("refused");
        assert!(matches!(err, SetupError::InvalidBaseUrl), "{base}: {err}");
    }
    for token in ["", "sk_", "not-a-token", "sk_with space", "sk_x\nEVIL=1"] {
        let err = apply(ClientTool::GeminiCli, home.path(), BASE, token).expect_err("refused");
        assert!(matches!(err, SetupError::InvalidToken), "{token:?}: {err}");
    }
    assert!(!home.path().join(".gemini").exists());
}

#[test]
fn root_urls_drop_a_trailing_slash_and_v1() {
    for (given, root) in [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080"),
        (
            "https://relay.example/realms/",
            "https://relay.example/realms",
        ),
    ] {
        assert_eq!(root_url(given).as_deref(), Some(root), "{given}");
    }
}
