//! The `fake-upstream` binary: starts on a free port, serves the defaults, records with
//! `--record` and shows the log at `/__fake/requests`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::client;

/// Kills the child when the test ends, even on a failed assertion.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_serves_and_records() {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_fake-upstream"))
            .args(["--addr", "127.0.0.1:0", "--record", "--workers", "1"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts"),
    );
    let stderr = child.0.stderr.take().expect("piped stderr");
    let url = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let at = line.find("http://127.0.0.1:")?;
            let rest = &line[at..];
            let end = rest
                .char_indices()
                .skip("http://127.0.0.1:".len())
                .find(|(_, c)| !c.is_ascii_digit())
                .map_or(rest.len(), |(i, _)| i);
            Some(rest[..end].to_owned())
        })
        .expect("the log names the listening URL");

    let resp = client()
        .post(format!("{url}/v1/chat/completions?events=3"))
        .json(&json!({"model": "bench", "stream": true}))
        .send()
        .await
        .expect("chat");
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.expect("body");
    assert_eq!(crate::common::events(&body).len(), 1 + 3 + 1 + 1);

    let log: Value = client()
        .get(format!("{url}/__fake/requests"))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    let requests = log["requests"].as_array().expect("list");
    assert_eq!(
        requests.len(),
        1,
        "the control route itself is not recorded"
    );
    assert_eq!(requests[0]["path"], "/v1/chat/completions");
    assert_eq!(requests[0]["query"], "events=3");
}
