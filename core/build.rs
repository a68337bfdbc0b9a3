//! Build script: re-embed migrations when they change, and stamp the binary with its git commit
//! and build date (shown by `realms --version` and `/healthz`).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-env-changed=REALMS_BUILD_DATE");
    println!("cargo:rerun-if-env-changed=REALMS_GIT_COMMIT");

    let commit = std::env::var("REALMS_GIT_COMMIT").ok().or_else(|| {
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|s| s.trim().to_owned())
    });
    println!(
        "cargo:rustc-env=REALMS_GIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".into())
    );

    // A build date from the environment keeps reproducible builds reproducible; otherwise today.
    let date = std::env::var("REALMS_BUILD_DATE").ok().or_else(|| {
        Command::new("date")
            .args(["-u", "+%Y-%m-%d"])
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|s| s.trim().to_owned())
    });
    println!(
        "cargo:rustc-env=REALMS_BUILD_DATE={}",
        date.unwrap_or_else(|| "unknown".into())
    );
}
