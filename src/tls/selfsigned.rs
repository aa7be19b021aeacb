//! A self-signed certificate for a LAN install, made once and kept.
//!
//! `DATA_DIR/tls/self-signed.crt` and `self-signed.key` (mode 0600). Both are
//! reused on every start, so a browser exception or a pinned certificate stays
//! valid; delete them to get a new pair. The names it is valid for:
//! `localhost`, the machine's host name, `127.0.0.1` and `::1`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub const CERT_FILE: &str = "self-signed.crt";
pub const KEY_FILE: &str = "self-signed.key";

/// The pair's paths, generating it first when either file is missing.
pub fn ensure(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert = dir.join(CERT_FILE);
    let key = dir.join(KEY_FILE);
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (cert_pem, key_pem) = generate(&host_names())?;
    // The key first and privately; the certificate last, so a crash in
    // between leaves no certificate and the next start makes both again.
    write_file(&key, key_pem.as_bytes(), 0o600)?;
    write_file(&cert, cert_pem.as_bytes(), 0o644)?;
    tracing::info!(
        "made a self-signed TLS certificate in {} (valid for {})",
        cert.display(),
        host_names().join(", ")
    );
    Ok((cert, key))
}

fn host_names() -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    if let Some(h) = system_host_name() {
        if !names.contains(&h) {
            names.push(h);
        }
    }
    names.push("127.0.0.1".into());
    names.push("::1".into());
    names
}

fn system_host_name() -> Option<String> {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()?;
    let h = raw.trim().to_ascii_lowercase();
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    ok.then_some(h)
}

/// A PEM certificate and key (ECDSA P-256) valid for `names` for ten years.
pub fn generate(names: &[String]) -> anyhow::Result<(String, String)> {
    let mut params = rcgen::CertificateParams::new(names.to_vec()).context("certificate names")?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Open WebUI (self-signed)");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    params
        .extended_key_usages
        .push(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    let key = rcgen::KeyPair::generate().context("generating a key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}
