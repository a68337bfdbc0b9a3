//! The direct transport against scripted HTTP/1.1 servers on 127.0.0.1 (plain and TLS): reuse
//! of idle connections, what is never reused, cancellation by dropping a body, gathering of
//! what one read delivered, the address guard and timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::direct::Direct;
use super::pool::Key;
use super::{TransportError, UpstreamBody, UpstreamRequest, UpstreamResponse};
use crate::config::LimitsConfig;
use crate::relay::upstream::origin::Origin;

/// What a scripted server does after reading a request.
#[derive(Debug, Clone)]
enum Step {
    Write(&'static str),
    Pause(Duration),
    /// Close the connection.
    Close,
    /// Send nothing more; wait until the client closes.
    Hold,
}

const HELLO: &str = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";

/// A scripted upstream: every request on every connection gets `script(n)`, `n` counting all
/// requests the server has read.
struct Upstream {
    port: u16,
    accepted: Arc<AtomicUsize>,
    /// Connections the client closed (EOF read by the server).
    closed_by_client: Arc<AtomicUsize>,
}

type Script = Arc<dyn Fn(usize) -> Vec<Step> + Send + Sync>;
type Acceptor = Option<tokio_rustls::TlsAcceptor>;

impl Upstream {
    async fn start(script: impl Fn(usize) -> Vec<Step> + Send + Sync + 'static) -> Self {
        Self::start_with(None, Arc::new(script)).await
    }

    async fn start_with(tls: Acceptor, script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed_by_client = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (acc, closed) = (accepted.clone(), closed_by_client.clone());
        let tasks = tokio_util::task::TaskTracker::new();
        let inner = tasks.clone();
        tasks.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                acc.fetch_add(1, Ordering::SeqCst);
                let (script, requests, closed) = (script.clone(), requests.clone(), closed.clone());
                let tls = tls.clone();
                inner.spawn(async move {
                    match tls {
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(tcp).await {
                                serve(stream, script, requests, closed).await;
                            }
                        }
                        None => serve(tcp, script, requests, closed).await,
                    }
                });
            }
        });
        Self {
            port,
            accepted,
            closed_by_client,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn origin(&self, scheme: &str, host: &str) -> Origin {
        origin(&format!("{scheme}://{host}:{}", self.port))
    }
}

/// Reads one request (head and `content-length` body); `None` on EOF.
async fn read_request(io: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let mut chunk = [0u8; 4096];
                let n = io.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..end + 4 + length);
            return Some(head);
        }
        let mut chunk = [0u8; 4096];
        let n = io.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve(
    mut io: impl AsyncRead + AsyncWrite + Unpin,
    script: Script,
    requests: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
) {
    let mut buf = Vec::new();
    loop {
        let Some(head) = read_request(&mut io, &mut buf).await else {
            closed.fetch_add(1, Ordering::SeqCst);
            return;
        };
        assert!(head.contains("\r\nhost: "), "a Host header: {head}");
        let n = requests.fetch_add(1, Ordering::SeqCst);
        for step in script(n) {
            match step {
                Step::Write(bytes) => {
                    if io.write_all(bytes.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Step::Pause(wait) => tokio::time::sleep(wait).await,
                Step::Close => return,
                Step::Hold => {
                    let mut sink = [0u8; 1024];
                    while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
                    closed.fetch_add(1, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
}

fn limits() -> LimitsConfig {
    LimitsConfig {
        connect_timeout_secs: 1,
        ..LimitsConfig::default()
    }
}

fn origin(base_url: &str) -> Origin {
    Origin::parse(base_url).expect("origin")
}

/// Sends a chat request with a query to `origin`.
async fn send(
    direct: &Direct,
    origin: &Origin,
    guarded: bool,
) -> Result<UpstreamResponse, TransportError> {
    direct
        .send(UpstreamRequest {
            method: Method::POST,
            origin,
            target: "/v1/chat/completions?x=1".to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"{\"model\":\"m\"}"),
            guarded,
            proxy: None,
        })
        .await
}

/// The body's items until its end or first error (`Err` is the last item then).
async fn items(mut body: UpstreamBody) -> Vec<Result<Bytes, ()>> {
    let mut out = Vec::new();
    while let Some(item) = body.next().await {
        let failed = item.is_err();
        out.push(item.map_err(|_| ()));
        if failed {
            break;
        }
    }
    out
}

fn key(port: u16) -> Key {
    Key {
        https: false,
        host: "127.0.0.1".into(),
        port,
        guarded: false,
        home: std::thread::current().id(),
        slot: crate::per_thread::slot(),
    }
}

/// Waits (bounded) until `check` holds.
async fn eventually(check: impl Fn() -> bool) -> bool {
    for _ in 0..200 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn a_connection_is_reused_after_a_complete_answer() {
    let upstream = Upstream::start(|_| vec![Step::Write(HELLO)]).await;
    let direct = Direct::new(&limits(), Vec::new());
    let origin = upstream.origin("http", "127.0.0.1");
    for _ in 0..3 {
        let response = send(&direct, &origin, false).await.expect("answer");
        assert_eq!(response.status, 200);
        assert_eq!(items(response.body).await, vec![Ok(Bytes::from("hello"))]);
    }
    assert_eq!(upstream.accepted(), 1, "one connection for three requests");
    assert_eq!(direct.pool().idle_count(&key(upstream.port)), 1);
}

#[tokio::test]
async fn what_one_read_delivered_comes_as_one_chunk() {
    const CHUNKED: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n\
        9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n9\r\ndata: 3\n\n\r\n";
    let upstream = Upstream::start(|_| {
        vec![
            Step::Write(CHUNKED),
            Step::Pause(Duration::from_millis(50)),
            Step::Write("9\r\ndata: 4\n\n\r\n0\r\n\r\n"),
        ]
    })
    .await;
    let direct = Direct::new(&limits(), Vec::new());
    let origin = upstream.origin("http", "127.0.0.1");
    let response = send(&direct, &origin, false).await.expect("answer");
    assert_eq!(
        items(response.body).await,
        vec![
            Ok(Bytes::from("data: 1\n\ndata: 2\n\ndata: 3\n\n")),
            Ok(Bytes::from("data: 4\n\n")),
        ]
    );
    let response = send(&direct, &origin, false).await.expect("second answer");
    assert_eq!(items(response.body).await.len(), 2);
    assert_eq!(
        upstream.accepted(),
        1,
        "a complete chunked body keeps the connection"
    );
}

#[tokio::test]
async fn dropping_an_unfinished_body_closes_the_connection() {
    const HEAD: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n";
    let upstream = Upstream::start(|n| match n {
        0 => vec![Step::Write(HEAD), Step::Hold],
        _ => vec![Step::Write(HELLO)],
    })
    .await;
    let direct = Direct::new(&limits(), Vec::new());
    let origin = upstream.origin("http", "127.0.0.1");
    let response = send(&direct, &origin, false).await.expect("answer");
    let mut body = response.body;
    let first = body.next().await.expect("a chunk").expect("data");
    assert_eq!(first, Bytes::from("data: 1\n\n"));
    drop(body); // the client went away
    let closed = &upstream.closed_by_client;
    assert!(
        eventually(|| closed.load(Ordering::SeqCst) == 1).await,
        "the upstream sees the connection close (the request is cancelled)"
    );
    let response = send(&direct, &origin, false).await.expect("answer");
    assert_eq!(items(response.body).await, vec![Ok(Bytes::from("hello"))]);
    assert_eq!(
        upstream.accepted(),
        2,
        "the unfinished connection is not reused"
    );
}

#[tokio::test]
async fn a_broken_body_hands_on_what_came_then_fails_and_is_not_reused() {
    let upstream = Upstream::start(|n| match n {
        0 => vec![
            Step::Write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello"),
            Step::Close,
        ],
        _ => vec![Step::Write(HELLO)],
    })
    .await;
    let direct = Direct::new(&limits(), Vec::new());
    let origin = upstream.origin("http", "127.0.0.1");
    let response = send(&direct, &origin, false).await.expect("answer");
    let got = items(response.body).await;
    assert_eq!(got.first(), Some(&Ok(Bytes::from("hello"))), "{got:?}");
    assert_eq!(got.last(), Some(&Err(())), "{got:?}");
    assert_eq!(direct.pool().idle_count(&key(upstream.port)), 0);
    let response = send(&direct, &origin, false).await.expect("answer");
    assert_eq!(items(response.body).await, vec![Ok(Bytes::from("hello"))]);
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn connection_close_answers_are_not_kept() {
    let upstream = Upstream::start(|_| {
        vec![Step::Write(
            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 5\r\n\r\nhello",
        )]
    })
    .await;
    let direct = Direct::new(&limits(), Vec::new());
    let origin = upstream.origin("http", "127.0.0.1");
    for _ in 0..2 {
        let response = send(&direct, &origin, false).await.expect("answer");
        assert_eq!(items(response.body).await, vec![Ok(Bytes::from("hello"))]);
    }
    assert_eq!(upstream.accepted(), 2);
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_replaced_without_an_error() {
    // The upstream ends idle connections right after answering (a short keep-alive timeout).
    let upstream = Upstream::start(|_| vec![Step::Write(HELLO), Step::Close]).await;
    let direct = Direct::new(&limits(), Vec::new());
    let origin = upstream.origin("http", "127.0.0.1");
    for _ in 0..3 {
        let response = send(&direct, &origin, false).await.expect("answer");
        assert_eq!(items(response.body).await, vec![Ok(Bytes::from("hello"))]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(upstream.accepted(), 3);
}

#[tokio::test]
async fn idle_connections_expire_and_the_pool_is_bounded() {
    let upstream = Upstream::start(|_| vec![Step::Write(HELLO)]).await;
    let limits = LimitsConfig {
        upstream_pool_idle_timeout_secs: 1,
        upstream_pool_max_idle_per_host: 1,
        ..limits()
    };
    let direct = Direct::new(&limits, Vec::new());
    let origin = upstream.origin("http", "127.0.0.1");
    // two answers in flight at once: two connections, only one kept
    let (a, b) = tokio::join!(send(&direct, &origin, false), send(&direct, &origin, false));
    let (a, b) = (a.expect("a"), b.expect("b"));
    let _ = tokio::join!(items(a.body), items(b.body));
    assert_eq!(upstream.accepted(), 2);
    assert_eq!(direct.pool().idle_count(&key(upstream.port)), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = send(&direct, &origin, false).await.expect("answer");
    assert_eq!(items(response.body).await, vec![Ok(Bytes::from("hello"))]);
    assert_eq!(
        upstream.accepted(),
        3,
        "the expired connection is not reused"
    );
}

#[tokio::test]
async fn the_guard_refuses_internal_addresses() {
    let upstream = Upstream::start(|_| vec![Step::Write(HELLO)]).await;
    let direct = Direct::new(&limits(), Vec::new());
    for host in ["127.0.0.1", "localhost"] {
        let origin = upstream.origin("http", host);
        match send(&direct, &origin, true).await {
            Err(TransportError::Guard(text)) => {
                assert!(text.contains("allow_private_upstreams"), "{text}");
            }
            Err(other) => panic!("{host}: refused for another reason: {other}"),
            Ok(_) => panic!("{host}: an internal address was reached"),
        }
    }
    assert_eq!(upstream.accepted(), 0);
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let origin = origin(&format!("http://127.0.0.1:{port}"));
    let direct = Direct::new(&limits(), Vec::new());
    assert!(matches!(
        send(&direct, &origin, false).await,
        Err(TransportError::Connect)
    ));
}

#[tokio::test]
async fn connecting_is_bounded_by_the_connect_timeout() {
    // A listener that never accepts, its backlog filled: further connections get no answer.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let addr = socket.local_addr().expect("addr");
    let _listener = socket.listen(1).expect("listen");
    let mut held = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(tcp)) = tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            held.push(tcp);
        }
    }
    let origin = origin(&format!("http://{addr}"));
    let direct = Direct::new(&limits(), Vec::new());
    let started = std::time::Instant::now();
    let result = send(&direct, &origin, false).await;
    assert!(
        matches!(result, Err(TransportError::Timeout)),
        "{:?}",
        result.err()
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A CA and a certificate for 127.0.0.1 signed by it: (CA certificate, server settings).
fn test_pki() -> (
    rustls::pki_types::CertificateDer<'static>,
    tokio_rustls::TlsAcceptor,
) {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &issuer).expect("leaf");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server config");
    (
        ca_cert.der().clone(),
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    )
}

#[tokio::test]
async fn tls_upstreams_are_verified_and_reused() {
    let (ca, acceptor) = test_pki();
    let script: Script = Arc::new(|_| vec![Step::Write(HELLO)]);
    let upstream = Upstream::start_with(Some(acceptor), script).await;
    let origin = upstream.origin("https", "127.0.0.1");

    let untrusting = Direct::new(&limits(), Vec::new());
    assert!(
        matches!(
            send(&untrusting, &origin, false).await,
            Err(TransportError::Connect)
        ),
        "a certificate from an unknown CA is refused"
    );

    let direct = Direct::new(&limits(), vec![ca]);
    for _ in 0..2 {
        let response = send(&direct, &origin, false)
            .await
            .expect("answer over TLS");
        assert_eq!(response.status, 200);
        assert_eq!(items(response.body).await, vec![Ok(Bytes::from("hello"))]);
    }
    assert_eq!(
        upstream.accepted(),
        2,
        "one refused handshake, then one connection for both requests"
    );
}
