//! `realms_core::desktop::client_setup` from the command line, for the real-client tests
//! (`tests/clients`), which check that a tool set up by it reaches Realms:
//!
//! ```text
//! client-setup plan  <codex_cli|claude_code|gemini_cli> <home> <base_url>
//! client-setup apply <codex_cli|claude_code|gemini_cli> <home> <base_url>   # token in REALMS_TOKEN
//! client-setup undo  <codex_cli|claude_code|gemini_cli> <home>
//! ```
//!
//! The token comes from the environment so it never shows in a process list. A test tool, not
//! part of the product (the desktop app calls the same functions).
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line test tool prints its result and its failure"
)]

use std::path::PathBuf;
use std::process::ExitCode;

use realms_core::desktop::client_setup::{self, ClientTool};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("client-setup: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    const USAGE: &str = "usage: client-setup plan|apply|undo <tool> <home> [base_url]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [action, tool, home, rest @ ..] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let tool: ClientTool = serde_json::from_value(serde_json::Value::from(tool.as_str()))
        .map_err(|e| e.to_string())?;
    let home = PathBuf::from(home);
    match (action.as_str(), rest) {
        ("plan", [base_url]) => {
            println!("{}", client_setup::plan(tool, &home, base_url).summary);
        }
        ("apply", [base_url]) => {
            let token = std::env::var("REALMS_TOKEN").map_err(|_| "set REALMS_TOKEN")?;
            let outcome =
                client_setup::apply(tool, &home, base_url, &token).map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&outcome).map_err(|e| e.to_string())?
            );
        }
        ("undo", []) => client_setup::undo(tool, &home).map_err(|e| e.to_string())?,
        _ => return Err(USAGE.into()),
    }
    Ok(())
}
