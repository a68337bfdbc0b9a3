//! Helpers shared by the integration tests: an HTTP client and an SSE splitter.

use serde_json::Value;

/// A client that does not follow redirects (the OAuth tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

/// One parsed SSE event: its `event:` name (if any) and its `data:` text.
#[derive(Debug)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("event data is JSON")
    }
}

/// Splits an SSE body into events (LF or CRLF line ends).
pub fn events(body: &str) -> Vec<Event> {
    let body = body.replace("\r\n", "\n");
    body.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = Some(n.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push(d);
                }
            }
            Event {
                name,
                data: data.join("\n"),
            }
        })
        .collect()
}
