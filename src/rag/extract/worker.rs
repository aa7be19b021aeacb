//! Extraction in a child process.
//!
//! Third-party parsers can overflow the stack, abort, loop or allocate
//! without bound on a hostile file, and none of that can be caught inside
//! the server process. So each extraction runs as `open-webui
//! extract-worker` (a hidden subcommand of the same executable) under
//! `setrlimit` limits on CPU time, address space and core dumps, with a
//! wall-clock timeout and a cap on its output enforced by the parent. However
//! the child ends, the file gets a result or a readable error and the server
//! carries on.
//!
//! Protocol: the child writes [`MAGIC`] at once, then after parsing either
//! `OK <len>\n<text>` or `ERR <len>\n<message>` on stdout, and exits 0. Anything else (a
//! signal, a non-zero exit, no frame) is a crash, classified with the help
//! of the first bytes of its stderr.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{err, ExtractError, Limits, MAX_EXTRACT_BYTES};

const MAGIC: &[u8] = b"OWUI-EXTRACT/1\n";

/// Extraction workers alive at once.
static WORKERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Stderr kept from a worker for diagnosis.
const STDERR_KEEP: usize = 16 * 1024;

/// Env var honoured only by the worker subcommand, for tests that prove
/// misbehaving parsers are contained: with it set to `1`, a file named
/// `worker-test-<mode>…` makes the worker abort, overflow its stack, spin
/// or allocate without bound instead of parsing.
pub const TEST_KNOB: &str = "OPEN_WEBUI_EXTRACT_WORKER_TEST";

/// How extraction workers are started and limited (from env at start-up).
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The executable with the `extract-worker` subcommand; `None` is this
    /// process's own executable (`OPEN_WEBUI_EXTRACT_WORKER`).
    pub exe: Option<PathBuf>,
    /// Wall-clock and CPU-time limit per file (`EXTRACT_TIMEOUT_SECONDS`, 120).
    pub timeout: Duration,
    /// Address-space limit of a worker (`EXTRACT_MAX_MEMORY_MB`, 2048).
    pub max_memory: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            exe: None,
            timeout: Duration::from_secs(120),
            max_memory: 2048 * 1024 * 1024,
        }
    }
}

impl WorkerSettings {
    pub fn from_env() -> WorkerSettings {
        let d = WorkerSettings::default();
        let num = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|v| *v > 0)
        };
        WorkerSettings {
            exe: std::env::var_os("OPEN_WEBUI_EXTRACT_WORKER")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            timeout: num("EXTRACT_TIMEOUT_SECONDS")
                .map(Duration::from_secs)
                .unwrap_or(d.timeout),
            max_memory: num("EXTRACT_MAX_MEMORY_MB")
                .map(|mb| mb.saturating_mul(1024 * 1024))
                .unwrap_or(d.max_memory),
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            timeout: self.timeout,
            ..Limits::default()
        }
    }
}

enum Input {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

/// Extracts the text of a stored file in a worker process.
pub async fn extract_file(
    worker: &WorkerSettings,
    path: PathBuf,
    filename: String,
    content_type: Option<String>,
) -> Result<String, ExtractError> {
    let size = tokio::fs::metadata(&path)
        .await
        .map(|m| m.len())
        .map_err(|e| {
            tracing::warn!(path = %path.display(), error = %e, "cannot read upload");
            err("The uploaded file could not be read from storage.")
        })?;
    if size > MAX_EXTRACT_BYTES {
        return Err(err(format!(
            "The file is too large for text extraction ({} MB; the limit is {} MB). It is stored and can be downloaded.",
            size / (1024 * 1024),
            MAX_EXTRACT_BYTES / (1024 * 1024)
        )));
    }
    run(
        worker,
        Input::Path(path),
        &filename,
        content_type.as_deref(),
    )
    .await
}

/// Extracts the text of bytes already in memory (e.g. a fetched web page)
/// in a worker process; the bytes go to it on stdin.
pub async fn extract_bytes_isolated(
    worker: &WorkerSettings,
    bytes: Vec<u8>,
    filename: &str,
    content_type: Option<&str>,
) -> Result<String, ExtractError> {
    if bytes.len() as u64 > MAX_EXTRACT_BYTES {
        return Err(err("The content is too large for text extraction."));
    }
    run(worker, Input::Bytes(bytes), filename, content_type).await
}

fn unavailable() -> ExtractError {
    err("Text extraction is unavailable on this server (the extraction worker could not run); please tell your administrator.")
}

async fn run(
    worker: &WorkerSettings,
    input: Input,
    filename: &str,
    content_type: Option<&str>,
) -> Result<String, ExtractError> {
    let exe = match &worker.exe {
        Some(p) => p.clone(),
        // Still this executable after an upgrade replaced the file on disk.
        None if cfg!(target_os = "linux") && Path::new("/proc/self/exe").exists() => {
            PathBuf::from("/proc/self/exe")
        }
        None => std::env::current_exe().map_err(|e| {
            tracing::error!(error = %e, "cannot locate the executable for the extraction worker");
            unavailable()
        })?,
    };
    let limits = worker.limits();
    let _slot = WORKERS.acquire().await;
    let mut cmd = tokio::process::Command::new(&exe);
    cmd.arg("extract-worker")
        .arg("--filename")
        .arg(filename)
        .arg("--max-unpacked")
        .arg(limits.max_unpacked.to_string())
        .arg("--max-chars")
        .arg(limits.max_chars.to_string());
    if let Some(ct) = content_type {
        cmd.arg("--content-type").arg(ct);
    }
    let stdin_bytes = match input {
        Input::Path(p) => {
            cmd.arg("--path").arg(p);
            cmd.stdin(Stdio::null());
            None
        }
        Input::Bytes(b) => {
            cmd.stdin(Stdio::piped());
            Some(b)
        }
    };
    // Parsers need nothing from the environment, and the server's secrets
    // (keys in env) stay out of the process that reads hostile bytes.
    cmd.env_clear().env("RUST_BACKTRACE", "0");
    if let Some(v) = std::env::var_os(TEST_KNOB) {
        cmd.env(TEST_KNOB, v);
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    apply_rlimits(&mut cmd, worker);

    let mut child = cmd.spawn().map_err(|e| {
        tracing::error!(exe = %exe.display(), error = %e, "cannot start the extraction worker");
        unavailable()
    })?;
    if let (Some(bytes), Some(mut stdin)) = (stdin_bytes, child.stdin.take()) {
        // A worker that dies early closes the pipe; the write error is moot.
        tokio::spawn(async move {
            let _ = stdin.write_all(&bytes).await;
        });
    }
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_cap = (limits.max_chars as u64).saturating_add(MAGIC.len() as u64 + 64);

    // Stderr is drained to the end on its own task so a chatty worker never
    // blocks on the pipe; the first bytes are kept for diagnosis.
    let err_task = tokio::spawn(async move {
        let mut keep = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            let room = STDERR_KEEP.saturating_sub(keep.len());
            keep.extend_from_slice(&chunk[..n.min(room)]);
        }
        keep
    });
    let work = async {
        let mut out = Vec::new();
        let r = (&mut stdout).take(out_cap + 1).read_to_end(&mut out).await;
        if out.len() as u64 > out_cap {
            return Outcome::TooMuchOutput;
        }
        let status = child.wait().await;
        Outcome::Exited {
            out,
            out_ok: r.is_ok(),
            status,
        }
    };
    let outcome = match tokio::time::timeout(worker.timeout, work).await {
        Ok(o) => o,
        Err(_) => Outcome::TimedOut,
    };
    // Whatever happened, no worker outlives its file.
    let _ = child.start_kill();
    let _ = child.wait().await;
    let stderr = match tokio::time::timeout(Duration::from_secs(2), err_task).await {
        Ok(Ok(keep)) => keep,
        _ => Vec::new(),
    };
    interpret(outcome, &stderr, worker, filename)
}

enum Outcome {
    Exited {
        out: Vec<u8>,
        out_ok: bool,
        status: std::io::Result<std::process::ExitStatus>,
    },
    TooMuchOutput,
    TimedOut,
}

fn failed(reason: &str) -> ExtractError {
    err(format!("The document could not be parsed: {reason}."))
}

fn interpret(
    outcome: Outcome,
    stderr: &[u8],
    worker: &WorkerSettings,
    filename: &str,
) -> Result<String, ExtractError> {
    let secs = worker.timeout.as_secs();
    let (out, out_ok, status) = match outcome {
        Outcome::TimedOut => {
            tracing::warn!(file = filename, "extraction worker timed out; killed");
            return Err(failed(&format!("the parser took longer than {secs} s")));
        }
        Outcome::TooMuchOutput => {
            tracing::warn!(file = filename, "extraction worker wrote too much; killed");
            return Err(failed("the parser produced more text than allowed"));
        }
        Outcome::Exited {
            out,
            out_ok,
            status,
        } => (out, out_ok, status),
    };
    let status_ok = matches!(&status, Ok(s) if s.success());
    if status_ok && out_ok {
        if let Some(r) = parse_frame(&out) {
            return r;
        }
    }
    let stderr = String::from_utf8_lossy(stderr);
    let signal = status.as_ref().ok().and_then(signal_of);
    tracing::warn!(
        file = filename,
        status = ?status.as_ref().ok(),
        stderr = %stderr.trim_end(),
        "extraction worker failed"
    );
    if !out.starts_with(MAGIC) && signal.is_none() {
        // The worker writes the magic line first thing: without it, the
        // executable is not an extraction worker (a wrong worker path).
        tracing::error!(exe = ?worker.exe, "the extraction worker did not answer the protocol");
        return Err(unavailable());
    }
    let mb = worker.max_memory / (1024 * 1024);
    let reason = if stderr.contains("overflowed its stack") {
        "the document is nested too deeply (the parser ran out of stack)".to_string()
    } else if stderr.contains("memory allocation of") || stderr.contains("capacity overflow") {
        format!("the parser needed more than {mb} MB of memory")
    } else if signal == Some(libc::SIGXCPU) || signal == Some(libc::SIGKILL) {
        format!("the parser used more than {secs} s of processor time")
    } else {
        "the parser crashed".to_string()
    };
    Err(failed(&reason))
}

#[cfg(unix)]
fn signal_of(s: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    s.signal()
}

#[cfg(not(unix))]
fn signal_of(_: &std::process::ExitStatus) -> Option<i32> {
    None
}

fn parse_frame(out: &[u8]) -> Option<Result<String, ExtractError>> {
    let rest = out.strip_prefix(MAGIC)?;
    let nl = rest.iter().position(|b| *b == b'\n')?;
    let head = std::str::from_utf8(&rest[..nl]).ok()?;
    let body = &rest[nl + 1..];
    let (tag, len) = head.split_once(' ')?;
    let len: usize = len.parse().ok()?;
    if body.len() != len {
        return None;
    }
    let text = String::from_utf8(body.to_vec()).ok()?;
    match tag {
        "OK" => Some(Ok(text)),
        "ERR" => Some(Err(ExtractError(text))),
        _ => None,
    }
}

#[cfg(unix)]
fn apply_rlimits(cmd: &mut tokio::process::Command, worker: &WorkerSettings) {
    let cpu = worker.timeout.as_secs().max(1) as libc::rlim_t;
    let mem = worker.max_memory as libc::rlim_t;
    // SAFETY: the closure runs in the forked child before exec and only
    // calls `setrlimit`, which is async-signal-safe; it touches no memory
    // shared with the parent and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            let set = |res, soft: libc::rlim_t, hard: libc::rlim_t| {
                let l = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(res, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            };
            // SIGXCPU at the soft limit, SIGKILL a little later.
            set(libc::RLIMIT_CPU, cpu, cpu + 2)?;
            set(libc::RLIMIT_AS, mem, mem)?;
            // A crashing parser must not write a core file the size of its heap.
            set(libc::RLIMIT_CORE, 0, 0)?;
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn apply_rlimits(_: &mut tokio::process::Command, _: &WorkerSettings) {}

/// Arguments of the hidden `extract-worker` subcommand.
#[derive(Debug, Clone)]
pub struct WorkerArgs {
    pub path: Option<PathBuf>,
    pub filename: String,
    pub content_type: Option<String>,
    pub max_unpacked: u64,
    pub max_chars: usize,
}

/// The child side: reads the file (or stdin), extracts, writes one frame.
/// Returns the process exit code.
pub fn worker_main(args: WorkerArgs) -> i32 {
    use std::io::{Read, Write};
    // Announce ourselves before any parsing, so the parent can tell a
    // crashed worker from an executable that is not one.
    {
        let mut out = std::io::stdout().lock();
        if out.write_all(MAGIC).and_then(|_| out.flush()).is_err() {
            return 3;
        }
    }
    test_knob(&args.filename);
    let limits = Limits {
        max_unpacked: args.max_unpacked,
        max_chars: args.max_chars,
        ..Limits::default()
    };
    let bytes = match &args.path {
        Some(p) => read_path(p),
        None => {
            let mut b = Vec::new();
            std::io::stdin()
                .take(MAX_EXTRACT_BYTES + 1)
                .read_to_end(&mut b)
                .map(|_| b)
                .map_err(|e| err(format!("Could not read the input: {e}")))
        }
    };
    let result = bytes.and_then(|b| {
        super::extract_guarded(&b, &args.filename, args.content_type.as_deref(), &limits)
    });
    let (tag, body) = match &result {
        Ok(t) => ("OK", t.as_str()),
        Err(e) => ("ERR", e.0.as_str()),
    };
    let mut out = std::io::stdout().lock();
    let written = writeln!(out, "{tag} {}", body.len())
        .and_then(|_| out.write_all(body.as_bytes()))
        .and_then(|_| out.flush());
    if written.is_err() {
        return 3;
    }
    0
}

fn read_path(p: &Path) -> Result<Vec<u8>, ExtractError> {
    std::fs::read(p).map_err(|_| err("The uploaded file could not be read from storage."))
}

/// See [`TEST_KNOB`].
fn test_knob(filename: &str) {
    if std::env::var(TEST_KNOB).as_deref() != Ok("1") {
        return;
    }
    let Some(mode) = filename.strip_prefix("worker-test-") else {
        return;
    };
    if mode.starts_with("abort") {
        std::process::abort();
    } else if mode.starts_with("overflow") {
        fn deeper(n: u64) -> u64 {
            if n == u64::MAX {
                return 0;
            }
            let pad = std::hint::black_box([n; 64]);
            pad[(n % 64) as usize] + deeper(n + 1)
        }
        std::hint::black_box(deeper(0));
    } else if mode.starts_with("spin") {
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    } else if mode.starts_with("alloc") {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut v = Vec::with_capacity(256 * 1024 * 1024);
            v.push(1u8);
            hoard.push(std::hint::black_box(v));
        }
    } else if mode.starts_with("flood") {
        let line = vec![b'x'; 1 << 20];
        let mut out = std::io::stdout().lock();
        loop {
            if std::io::Write::write_all(&mut out, &line).is_err() {
                std::process::exit(4);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(b"OK 5\nhello");
        assert_eq!(parse_frame(&f), Some(Ok("hello".into())));
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(b"ERR 3\nbad");
        assert_eq!(parse_frame(&f), Some(Err(ExtractError("bad".into()))));
        let mut f = MAGIC.to_vec();
        f.extend_from_slice(b"OK 9\nshort");
        assert_eq!(parse_frame(&f), None);
        assert_eq!(parse_frame(b"running 0 tests\n"), None);
    }
}
