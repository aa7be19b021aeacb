//! Checks the release artifact that `./install.sh` leaves at the repository
//! root (or the one `$OWUI_BIN` names); builds nothing itself.
//!
//! * statically linked: no program interpreter and no needed libraries, read
//!   from the ELF headers,
//! * at most 150 MB with the frontend and the embedding model inside,
//! * `--version` works,
//! * `open-webui healthcheck` is 0 against a running server, non-zero against
//!   a closed port.
//!
//! Without an artifact the test skips, except when `OWUI_ARTIFACT_REQUIRED=1`.
//! test.sh runs the cargo tests before install.sh builds the artifact, so it
//! sets `OWUI_ARTIFACT_DEFERRED=1` for that first run (the test then skips,
//! as ./open-webui may be missing or stale) and runs this test again right
//! after install.sh with `OWUI_ARTIFACT_REQUIRED=1`. A binary that is not a
//! release build (it carries debug sections) is skipped, or fails when required.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The size budget for the single executable (decimal megabytes).
const MAX_BYTES: u64 = 150_000_000;

fn artifact() -> Option<PathBuf> {
    let path = match std::env::var_os("OWUI_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("open-webui"),
    };
    path.is_file().then_some(path)
}

fn required() -> bool {
    std::env::var("OWUI_ARTIFACT_REQUIRED").as_deref() == Ok("1")
}

/// What the ELF headers say about linking.
#[derive(Debug, Default)]
struct ElfFacts {
    interpreter: bool,
    needed: usize,
    debug_sections: bool,
}

fn field<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}
fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(field(b, at)?) as u64)
}
fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(field(b, at)?) as u64)
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(field(b, at)?))
}
/// `base + i * size + extra`, or `None` on overflow.
fn offset(base: usize, i: usize, size: usize, extra: usize) -> Option<usize> {
    base.checked_add(i.checked_mul(size)?)?.checked_add(extra)
}

const PT_INTERP: u64 = 3;
const PT_DYNAMIC: u64 = 2;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;

/// Reads a 64-bit little-endian ELF file (what x86_64 and aarch64 Linux use).
fn elf_facts(b: &[u8]) -> Result<ElfFacts, String> {
    let bad = |what: &str| format!("not a readable ELF64 LE file: {what}");
    if b.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(bad("magic"));
    }
    if b.get(4) != Some(&2) || b.get(5) != Some(&1) {
        return Err(bad("class/endianness"));
    }
    let n = |v: Option<u64>, what: &str| v.map(|v| v as usize).ok_or_else(|| bad(what));
    let phoff = n(u64_at(b, 0x20), "e_phoff")?;
    let shoff = n(u64_at(b, 0x28), "e_shoff")?;
    let phentsize = n(u16_at(b, 0x36), "e_phentsize")?;
    let phnum = n(u16_at(b, 0x38), "e_phnum")?;
    let shentsize = n(u16_at(b, 0x3a), "e_shentsize")?;
    let shnum = n(u16_at(b, 0x3c), "e_shnum")?;
    let shstrndx = n(u16_at(b, 0x3e), "e_shstrndx")?;

    let mut facts = ElfFacts::default();
    for i in 0..phnum {
        let ph = offset(phoff, i, phentsize, 0).ok_or_else(|| bad("program header"))?;
        let p_type = u32_at(b, ph).ok_or_else(|| bad("program header"))?;
        if p_type == PT_INTERP {
            facts.interpreter = true;
        }
        if p_type == PT_DYNAMIC {
            let off = n(u64_at(b, ph.saturating_add(8)), "p_offset")?;
            let size = n(u64_at(b, ph.saturating_add(32)), "p_filesz")?;
            for entry in 0..size / 16 {
                let at = offset(off, entry, 16, 0).ok_or_else(|| bad("dynamic entry"))?;
                let tag = u64_at(b, at).ok_or_else(|| bad("dynamic entry"))?;
                if tag == DT_NULL {
                    break;
                }
                if tag == DT_NEEDED {
                    facts.needed += 1;
                }
            }
        }
    }
    // Section names, to tell a release build (no debug sections) apart.
    if shnum > 0 && shstrndx < shnum {
        let strtab_hdr = offset(shoff, shstrndx, shentsize, 0x18).ok_or_else(|| bad("shoff"))?;
        let str_off = n(u64_at(b, strtab_hdr), "shstrtab offset")?;
        for i in 0..shnum {
            let hdr = offset(shoff, i, shentsize, 0).ok_or_else(|| bad("shoff"))?;
            let name_off = n(u32_at(b, hdr), "sh_name")?;
            let start = str_off.saturating_add(name_off);
            let name = b.get(start..).unwrap_or_default();
            let end = name.iter().position(|c| *c == 0).unwrap_or(0);
            if name[..end].starts_with(b".debug_") {
                facts.debug_sections = true;
            }
        }
    }
    Ok(facts)
}

/// Runs `healthcheck` on a port; returns whether it exited 0, and how long it took.
fn healthcheck(bin: &Path, port: u16) -> (bool, Duration) {
    let started = Instant::now();
    let status = Command::new(bin)
        .args(["healthcheck", "--port", &port.to_string(), "--timeout", "2"])
        .env_remove("PORT")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run healthcheck");
    (status.success(), started.elapsed())
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn release_artifact() {
    if std::env::var("OWUI_ARTIFACT_DEFERRED").as_deref() == Ok("1") && !required() {
        eprintln!("skipped: test.sh checks the artifact after install.sh builds it");
        return;
    }
    let Some(bin) = artifact() else {
        assert!(
            !required(),
            "OWUI_ARTIFACT_REQUIRED=1 but there is no ./open-webui (nor $OWUI_BIN): did install.sh run?"
        );
        eprintln!("skipped: no release artifact (./open-webui or $OWUI_BIN); run ./install.sh");
        return;
    };
    let bytes = std::fs::read(&bin).unwrap();
    let facts = elf_facts(&bytes).unwrap();
    if facts.debug_sections {
        assert!(
            !required(),
            "{} has debug sections: not a release build",
            bin.display()
        );
        eprintln!("skipped: {} is not a release build", bin.display());
        return;
    }

    assert!(
        !facts.interpreter && facts.needed == 0,
        "{} is dynamically linked ({facts:?}); a static build needs the musl target (see install.sh)",
        bin.display()
    );
    let size = bytes.len() as u64;
    assert!(
        size <= MAX_BYTES,
        "{} is {size} bytes, over the {MAX_BYTES} budget",
        bin.display()
    );
    drop(bytes);

    let out = Command::new(&bin).arg("--version").output().unwrap();
    assert!(out.status.success());
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.starts_with("open-webui "), "{version}");

    // Nothing listens on a port just released: unhealthy, and quickly.
    let closed = common::free_port();
    let (ok, took) = healthcheck(&bin, closed);
    assert!(!ok, "healthcheck passed against a closed port");
    assert!(took < Duration::from_secs(10), "took {took:?}");

    let data = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let _server = Server(
        Command::new(&bin)
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--data-dir")
            .arg(data.path().join("data"))
            .env("WEBUI_SECRET_KEY", "artifact-test-secret")
            .env("ENABLE_OPENAI_API", "false")
            .env("ENABLE_OLLAMA_API", "false")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if healthcheck(&bin, port).0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "healthcheck never passed against the running server"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn elf_reader_tells_static_from_dynamic() {
    // This test binary itself: dynamically linked on glibc, static on musl.
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let facts = elf_facts(&me).unwrap();
    if cfg!(target_env = "gnu") {
        assert!(facts.interpreter && facts.needed > 0, "{facts:?}");
    }
    assert!(elf_facts(b"\x7fELF").is_err());
    assert!(elf_facts(b"#!/bin/sh\n").is_err());
    // Hostile offsets are errors, not panics.
    let mut header = me[..64].to_vec();
    header[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(elf_facts(&header).is_err());
    header[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    header[0x28..0x30].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
    assert!(elf_facts(&header).is_err());
}
