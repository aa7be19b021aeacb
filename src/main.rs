use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// musl's own allocator costs throughput under many threads; the static
/// build allocates with mimalloc instead.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "open-webui",
    version = concat!(env!("CARGO_PKG_VERSION"), " (serves the Open WebUI ", "0.12.4", " frontend)"),
    about = "Open WebUI in one executable: the official web interface with a Rust backend.",
    long_about = "Open WebUI in one executable: the official Open WebUI 0.12.4 web interface, served by a \
                  Rust backend that keeps all state in one SQLite file and can open a data folder written \
                  by Python Open WebUI.\n\nStart it with `open-webui serve` and open http://localhost:8080."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "HOST", default_value = "0.0.0.0")]
        host: String,
        /// Port to listen on.
        #[arg(long, env = "PORT", default_value_t = 8080)]
        port: u16,
        /// Folder for the database, uploads and caches (Python Open WebUI's data folder works as is).
        #[arg(long, env = "DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        #[command(flatten)]
        tls: open_webui::tls::TlsArgs,
    },
    /// Exit 0 when the server on this machine answers /health with 200, else 1
    /// (for container health checks; needs no shell or curl).
    Healthcheck {
        /// Port of the running server.
        #[arg(long, env = "PORT", default_value_t = 8080)]
        port: u16,
        /// Address to ask.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Seconds to wait for each of connect, send and answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Print the Open WebUI license that covers the bundled frontend.
    License,
    /// Rebuild the search index (vectors and BM25) of every file, knowledge base and memory.
    Reindex {
        /// The data folder to reindex.
        #[arg(long, env = "DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Write a consistent backup of a data folder (also while a server runs on it).
    Backup {
        /// The data folder to back up.
        #[arg(long, env = "DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The archive to write (default: open-webui-backup-<time>.tar.gz here).
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Unpack a backup into a new or empty data folder.
    Restore {
        /// The archive written by `open-webui backup`.
        file: PathBuf,
        /// The folder to restore into (must not exist or be empty).
        #[arg(long, env = "DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Check a data folder: database, uploads, retrieval index, secret key.
    Doctor {
        /// The data folder to check.
        #[arg(long, env = "DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Internal: extracts the text of one document for the server, which
    /// starts it with resource limits (not for direct use).
    #[command(hide = true)]
    ExtractWorker {
        /// The file to read; without it the document comes on stdin.
        #[arg(long)]
        path: Option<PathBuf>,
        /// The original file name (picks the parser).
        #[arg(long)]
        filename: String,
        #[arg(long)]
        content_type: Option<String>,
        #[arg(long)]
        max_unpacked: u64,
        #[arg(long)]
        max_chars: usize,
    },
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("GLOBAL_LOG_LEVEL")
                .ok()
                .map(|l| l.to_lowercase())
        })
        .unwrap_or_else(|| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_target(false)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// glibc gives each thread that allocates its own heap arena (up to eight per
/// core) and keeps what is freed in each; with tokio's and tantivy's threads
/// coming and going, the resident set crept upward under a steady load (see
/// BENCHMARKS.md, "Soak"). Two arenas keep it level at no measurable cost.
/// An operator's own `MALLOC_ARENA_MAX` wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn exit_code(code: i32) -> std::process::ExitCode {
    std::process::ExitCode::from(code.clamp(0, 255) as u8)
}

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    match cli.command {
        Command::ExtractWorker {
            path,
            filename,
            content_type,
            max_unpacked,
            max_chars,
        } => {
            let code = open_webui::rag::extract::worker::worker_main(
                open_webui::rag::extract::WorkerArgs {
                    path,
                    filename,
                    content_type,
                    max_unpacked,
                    max_chars,
                },
            );
            std::process::ExitCode::from(code as u8)
        }
        Command::Healthcheck {
            port,
            host,
            timeout,
        } => {
            let timeout = std::time::Duration::from_secs(timeout.clamp(1, 60));
            match open_webui::healthcheck::check(&host, port, timeout) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("open-webui: unhealthy: {e}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Command::License => {
            match open_webui::web::license_text() {
                Some(t) => println!("{t}"),
                None => println!("This build has no bundled frontend; run ./install.sh to fetch it with its license."),
            }
            std::process::ExitCode::SUCCESS
        }
        Command::Backup { data_dir, to } => {
            exit_code(open_webui::ops::backup::run_backup_cli(&data_dir, to))
        }
        Command::Restore { file, data_dir } => {
            exit_code(open_webui::ops::backup::run_restore_cli(&file, &data_dir))
        }
        Command::Doctor { data_dir } => exit_code(open_webui::ops::doctor::run_cli(&data_dir)),
        Command::Reindex { data_dir } => {
            init_logging();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            match rt.block_on(open_webui::rag::reindex::run_cli(data_dir)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("open-webui: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Command::Serve {
            host,
            port,
            data_dir,
            tls,
        } => {
            init_logging();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            match rt.block_on(serve(host, port, data_dir, tls)) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("open-webui: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(
    host: String,
    port: u16,
    data_dir: PathBuf,
    tls: open_webui::tls::TlsArgs,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let settings = open_webui::Settings::from_env(host, port, data_dir)?;
    let data_dir = settings.data_dir.clone();
    let tls = tls.setup(&data_dir)?;
    let server = open_webui::Server::bind(settings).await?;
    let addr = server.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let shown = if addr.ip().is_unspecified() {
        format!("{scheme}://localhost:{}", addr.port())
    } else {
        format!("{scheme}://{addr}")
    };
    if open_webui::web::frontend_is_placeholder() {
        tracing::warn!("this build has no frontend bundled; run ./install.sh to fetch Open WebUI's web interface");
    }
    tracing::info!(
        "Open WebUI {} is ready at {shown} (data: {}, started in {} ms)",
        open_webui::settings::VERSION,
        data_dir.display(),
        started.elapsed().as_millis()
    );
    match tls {
        Some(tls) => server.run_tls(tls, shutdown_signal()).await,
        None => server.run(shutdown_signal()).await,
    }
}
