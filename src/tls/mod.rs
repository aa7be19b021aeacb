//! HTTPS serving: the certificate a server presents, kept fresh.
//!
//! A certificate comes from two PEM files given by the operator
//! (`--tls-cert`/`--tls-key`) or from a self-signed pair this server makes
//! once and keeps in `DATA_DIR/tls/` ([`selfsigned`]). The pair is read into a
//! [`CertStore`] that rustls asks on every handshake, so replacing it
//! (SIGHUP, or the files' modification time changing) takes effect for the
//! next connection without a restart; a pair that fails to load leaves the
//! previous one in place.
//!
//! The connection side (TLS accept, HTTP/1.1 + HTTP/2, the plain-HTTP
//! redirect) is in [`serve`]. Nothing here knows the web framework: the
//! server hands in a tower service.

pub mod selfsigned;
pub mod serve;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The HTTPS options of `open-webui serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain to serve HTTPS with (needs --tls-key).
    #[arg(long, env = "WEBUI_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "WEBUI_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate made once and kept in
    /// DATA_DIR/tls/ (for a LAN install without a real certificate).
    #[arg(long, env = "WEBUI_TLS_SELF_SIGNED", conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,
    /// Also listen for plain HTTP on this port and redirect (308) to HTTPS.
    #[arg(long, env = "WEBUI_HTTP_REDIRECT_PORT")]
    pub http_redirect_port: Option<u16>,
}

/// Where the certificate comes from, once the options are decided.
#[derive(Debug, Clone)]
pub struct TlsSetup {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub redirect_port: Option<u16>,
    /// How often the files' modification times are compared.
    pub poll: Duration,
}

impl TlsArgs {
    /// `None` for plain HTTP. Makes (or reuses) the self-signed pair.
    pub fn setup(&self, data_dir: &Path) -> anyhow::Result<Option<TlsSetup>> {
        let (cert, key) = match (&self.tls_cert, &self.tls_key, self.tls_self_signed) {
            (Some(c), Some(k), _) => (c.clone(), k.clone()),
            (None, None, true) => selfsigned::ensure(&data_dir.join("tls"))?,
            (None, None, false) => {
                if self.http_redirect_port.is_some() {
                    anyhow::bail!("--http-redirect-port needs HTTPS (--tls-cert/--tls-key or --tls-self-signed)");
                }
                return Ok(None);
            }
            _ => anyhow::bail!("--tls-cert and --tls-key go together"),
        };
        Ok(Some(TlsSetup {
            cert,
            key,
            redirect_port: self.http_redirect_port,
            poll: Duration::from_secs(2),
        }))
    }
}

/// Reads a certificate chain and its key into what rustls presents.
pub fn load_pair(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no certificate", cert.display());
    }
    let der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a PEM private key from {}", key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| anyhow::anyhow!("unsupported private key in {}: {e}", key.display()))?;
    let pair = CertifiedKey::new(chain, signing);
    pair.keys_match()
        .map_err(|e| anyhow::anyhow!("{} does not match {}: {e}", key.display(), cert.display()))?;
    Ok(pair)
}

/// The certificate presented to every new connection; replaceable at run time.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    pub fn new(pair: CertifiedKey) -> Arc<CertStore> {
        Arc::new(CertStore {
            current: RwLock::new(Arc::new(pair)),
        })
    }

    pub fn replace(&self, pair: CertifiedKey) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(pair);
    }

    fn get(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// The rustls server configuration: ring, TLS 1.2/1.3, ALPN h2 then http/1.1.
pub fn server_config(store: Arc<CertStore>) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(store);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

fn mtimes(setup: &TlsSetup) -> (Option<SystemTime>, Option<SystemTime>) {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (m(&setup.cert), m(&setup.key))
}

/// Reloads the pair on SIGHUP and when either file's modification time
/// changes, until the returned task is aborted. A pair that does not load
/// (e.g. the key written before the certificate) is retried on the next poll.
pub fn watch(setup: TlsSetup, store: Arc<CertStore>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut seen = mtimes(&setup);
        let mut failed = false;
        let mut tick = tokio::time::interval(setup.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let forced = match hup.as_mut() {
                Some(h) => tokio::select! {
                    _ = tick.tick() => false,
                    _ = h.recv() => true,
                },
                None => {
                    tick.tick().await;
                    false
                }
            };
            #[cfg(not(unix))]
            let forced = {
                tick.tick().await;
                false
            };
            let now = mtimes(&setup);
            if !forced && !failed && now == seen {
                continue;
            }
            seen = now;
            let (c, k) = (setup.cert.clone(), setup.key.clone());
            match tokio::task::spawn_blocking(move || load_pair(&c, &k)).await {
                Ok(Ok(pair)) => {
                    store.replace(pair);
                    failed = false;
                    tracing::info!("TLS certificate reloaded from {}", setup.cert.display());
                }
                Ok(Err(e)) => {
                    if !failed {
                        tracing::warn!("keeping the previous TLS certificate: {e:#}");
                    }
                    failed = true;
                }
                Err(_) => failed = true,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatched_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b.test".into()]).unwrap();
        std::fs::write(dir.path().join("c.pem"), a.cert.pem()).unwrap();
        std::fs::write(dir.path().join("k.pem"), b.key_pair.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ka.pem"), a.key_pair.serialize_pem()).unwrap();
        let err = load_pair(&dir.path().join("c.pem"), &dir.path().join("k.pem")).unwrap_err();
        assert!(format!("{err:#}").contains("does not match"), "{err:#}");
        load_pair(&dir.path().join("c.pem"), &dir.path().join("ka.pem")).unwrap();
        let err = load_pair(&dir.path().join("k.pem"), &dir.path().join("ka.pem")).unwrap_err();
        assert!(format!("{err:#}").contains("no certificate"), "{err:#}");
    }
}
