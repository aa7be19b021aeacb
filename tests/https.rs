//! HTTPS served by the binary's own rustls: a real handshake from a rustls
//! client, HTTP/2 by ALPN, Socket.IO over a TLS WebSocket, the self-signed
//! certificate kept across restarts, certificate reload (file change and
//! SIGHUP) and the plain-HTTP redirect.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use open_webui::tls::{TlsArgs, TlsSetup};
use open_webui::Server;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

struct TlsServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TlsServer {
    async fn start(data_dir: &Path, setup: TlsSetup) -> TlsServer {
        let settings = common::settings_for(data_dir, Some("test-secret"));
        let server = Server::bind(settings).await.expect("bind");
        let addr = server.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run_tls(setup, async move {
            let _ = rx.await;
        }));
        TlsServer {
            addr,
            stop: tx,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

/// A self-signed PEM pair for `localhost` written to `dir` as cert.pem/key.pem.
fn write_pair(dir: &Path, cn: &str) -> (PathBuf, PathBuf, String) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&k, key.serialize_pem()).unwrap();
    std::fs::write(&c, cert.pem()).unwrap();
    (c, k, cert.pem())
}

fn setup(cert: PathBuf, key: PathBuf) -> TlsSetup {
    TlsSetup {
        cert,
        key,
        redirect_port: None,
        poll: Duration::from_millis(200),
    }
}

fn client_config(trusted: &[&str], alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for pem in trusted {
        roots
            .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
            .unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn handshake(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
}

/// The DER of the certificate the server presents now.
async fn presented(addr: SocketAddr, trusted: &[&str]) -> Option<Vec<u8>> {
    let tls = handshake(addr, client_config(trusted, &[b"http/1.1"]))
        .await
        .ok()?;
    let (_, conn) = tls.get_ref();
    Some(conn.peer_certificates()?[0].to_vec())
}

fn der_of(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn https_speaks_http2_and_http1_with_a_real_handshake() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, k, pem) = write_pair(tmp.path(), "one");
    let srv = TlsServer::start(tmp.path(), setup(c, k)).await;

    // HTTP/2, chosen by ALPN.
    let tls = handshake(srv.addr, client_config(&[&pem], &[b"h2", b"http/1.1"]))
        .await
        .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2, conn) = h2::client::handshake(tls).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = axum::http::Request::get(format!("https://localhost:{}/health", srv.addr.port()))
        .body(())
        .unwrap();
    let (resp, _) = h2.send_request(req, true).unwrap();
    let resp = resp.await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), axum::http::Version::HTTP_2);
    let mut body = resp.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["status"], true);

    // HTTP/1.1 through reqwest (rustls), trusting only the test certificate.
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .resolve("localhost", srv.addr)
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", srv.addr.port());
    let r = http
        .post(format!("{base}/api/v1/auths/signup"))
        .json(&serde_json::json!({"name": "Admin", "email": "a@example.com", "password": "Admin-pass-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    let token = r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();

    // A client that does not trust the certificate is refused.
    let other_dir = tempfile::tempdir().unwrap();
    let stranger = write_pair(other_dir.path(), "other").2;
    assert!(handshake(srv.addr, client_config(&[&stranger], &[b"h2"]))
        .await
        .is_err());

    // Socket.IO over a TLS WebSocket (HTTP/1.1 upgrade).
    let tls = handshake(srv.addr, client_config(&[&pem], &[b"http/1.1"]))
        .await
        .unwrap();
    let url = format!(
        "wss://localhost:{}/ws/socket.io/?EIO=4&transport=websocket",
        srv.addr.port()
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("websocket over TLS");
    let open = next_text(&mut ws).await;
    assert!(open.starts_with('0') && open.contains("\"sid\""), "{open}");
    ws.send(Message::Text(format!("40{{\"token\":\"{token}\"}}").into()))
        .await
        .unwrap();
    let connected = next_text(&mut ws).await;
    assert!(connected.starts_with("40"), "{connected}");
    drop(ws);
    srv.stop().await;
}

async fn next_text<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("socket.io answer in time")
            .expect("open socket")
            .expect("frame");
        if let Message::Text(t) = m {
            if t.as_str() == "2" {
                // engine.io ping: answer and keep waiting
                ws.send(Message::Text("3".into())).await.unwrap();
                continue;
            }
            return t.to_string();
        }
    }
}

#[tokio::test]
async fn certificate_reloads_on_file_change_and_on_sighup() {
    // Registered before the server's own handler, so a SIGHUP can never
    // reach the default action (terminating the test).
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let (c, k, first) = write_pair(certs.path(), "first");
    let srv = TlsServer::start(tmp.path(), setup(c.clone(), k.clone())).await;
    let mut trusted = vec![first.clone()];
    let now = presented(srv.addr, &[&first]).await.expect("handshake");
    assert_eq!(now, der_of(&first));

    // Replaced files: picked up by the modification-time poll.
    let (_, _, second) = write_pair(certs.path(), "second");
    trusted.push(second.clone());
    let roots: Vec<&str> = trusted.iter().map(String::as_str).collect();
    let mut seen = None;
    for _ in 0..50 {
        seen = presented(srv.addr, &roots).await;
        if seen.as_deref() == Some(der_of(&second).as_slice()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, Some(der_of(&second)), "the new certificate is served");

    // Replaced files with their old modification time: only SIGHUP reloads.
    let old_c = std::fs::metadata(&c).unwrap().modified().unwrap();
    let old_k = std::fs::metadata(&k).unwrap().modified().unwrap();
    let (_, _, third) = write_pair(certs.path(), "third");
    for (p, t) in [(&c, old_c), (&k, old_k)] {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    trusted.push(third.clone());
    let roots: Vec<&str> = trusted.iter().map(String::as_str).collect();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(presented(srv.addr, &roots).await, Some(der_of(&second)));
    unsafe {
        libc::kill(libc::getpid(), libc::SIGHUP);
    }
    hup.recv().await;
    let mut seen = None;
    for _ in 0..50 {
        seen = presented(srv.addr, &roots).await;
        if seen.as_deref() == Some(der_of(&third).as_slice()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, Some(der_of(&third)), "SIGHUP reloads");

    // A broken pair keeps the last good certificate in service.
    std::fs::write(&k, "not a key").unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(presented(srv.addr, &roots).await, Some(der_of(&third)));
    srv.stop().await;
}

#[tokio::test]
async fn self_signed_certificate_is_made_once_and_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let args = TlsArgs {
        tls_self_signed: true,
        ..TlsArgs::default()
    };
    let first = args.setup(tmp.path()).unwrap().expect("tls");
    assert!(first.cert.starts_with(tmp.path().join("tls")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first.key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the private key is private");
    }
    let pem = std::fs::read_to_string(&first.cert).unwrap();
    let srv = TlsServer::start(tmp.path(), first.clone()).await;
    let one = presented(srv.addr, &[&pem])
        .await
        .expect("trusted by its own cert");
    assert_eq!(one, der_of(&pem));
    srv.stop().await;

    // A restart on the same folder presents the same certificate.
    let again = args.setup(tmp.path()).unwrap().expect("tls");
    assert_eq!(std::fs::read_to_string(&again.cert).unwrap(), pem);
    let srv = TlsServer::start(tmp.path(), again).await;
    assert_eq!(presented(srv.addr, &[&pem]).await, Some(one));
    srv.stop().await;
}

#[tokio::test]
async fn plain_http_port_redirects_to_https() {
    let tmp = tempfile::tempdir().unwrap();
    let (c, k, _) = write_pair(tmp.path(), "one");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut s = setup(c, k);
    s.redirect_port = Some(port);
    let srv = TlsServer::start(tmp.path(), s).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The redirect listener comes up with the server task: retry briefly.
    let mut r = None;
    for _ in 0..100 {
        match http
            .get(format!("http://127.0.0.1:{port}/api/config?x=1"))
            .send()
            .await
        {
            Ok(resp) => {
                r = Some(resp);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let r = r.expect("redirect port answers");
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("https://127.0.0.1:{}/api/config?x=1", srv.addr.port()).as_str()
    );
    srv.stop().await;
}

#[test]
fn redirect_without_https_is_refused() {
    let args = TlsArgs {
        http_redirect_port: Some(8081),
        ..TlsArgs::default()
    };
    let err = args.setup(Path::new("/nonexistent")).unwrap_err();
    assert!(err.to_string().contains("needs HTTPS"), "{err}");
}

/// The binary itself: `serve --tls-self-signed` on the port `$PORT` names
/// (no `--port`), as a PaaS starts it; SIGTERM stops it cleanly.
#[tokio::test]
async fn binary_serves_https_on_the_port_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_open-webui"))
        .args(["serve", "--tls-self-signed"])
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("DATA_DIR", tmp.path())
        .env("WEBUI_SECRET_KEY", "test-secret")
        .env("ENABLE_OPENAI_API", "false")
        .env("ENABLE_OLLAMA_API", "false")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let cert = tmp.path().join("tls").join("self-signed.crt");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut pem = String::new();
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the server exited early: {status:?}");
        }
        if let Ok(p) = std::fs::read_to_string(&cert) {
            if presented(addr, &[&p]).await.is_some() {
                pem = p;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!pem.is_empty(), "HTTPS on $PORT within 30 s");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let r = http
        .get(format!("https://localhost:{port}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    unsafe {
        libc::kill(child.id().unwrap() as i32, libc::SIGTERM);
    }
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}
