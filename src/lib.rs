#![recursion_limit = "256"]
//! Open WebUI's backend as one Rust executable.

pub mod access;
pub mod accounts;
pub mod api;
pub mod apps;
pub mod audio;
pub mod auth;
pub mod automations;
pub mod cache;
pub mod channels;
pub mod chat;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod files;
pub mod frontend_texts;
pub mod healthcheck;
pub mod images;
pub mod interpreter;
pub mod json;
pub mod limits;
pub mod llm;
pub mod memories;
pub mod notes;
pub mod notify;
pub mod ops;
pub mod pipelines;
pub mod rag;
pub mod scim;
pub mod settings;
pub mod socket;
pub mod state;
pub mod terminals;
pub mod tls;
pub mod toolserver;
pub mod usage;
pub mod web;
pub mod webfetch;
pub mod websearch;
pub mod workspace;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

pub use settings::Settings;
pub use state::AppState;

/// The whole HTTP surface: API routes, Socket.IO and the embedded frontend.
pub fn router(state: AppState) -> Router {
    crate::chat::launch::install(crate::chat::pipeline::launch);
    let sio = socket::layer(state.clone());
    // The panic guard wraps everything that runs per request (handlers,
    // extractors, Socket.IO's HTTP side), so a panic becomes one failed
    // request, never a dropped connection. Socket.IO's polling answers bypass
    // the API layers: nosniff here too, outside, so a panic's 500 has it.
    api::app(state)
        .layer(api::compression::layer())
        .layer(sio)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            api::error_response::panic_response,
        ))
        .layer(api::nosniff_layer())
}

/// A server bound to its listener, ready to run.
pub struct Server {
    pub state: AppState,
    pub listener: TcpListener,
}

impl Server {
    pub async fn bind(settings: Settings) -> anyhow::Result<Server> {
        let addr = format!("{}:{}", settings.host, settings.port);
        let state = tokio::task::spawn_blocking(move || AppState::open(settings)).await??;
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        Ok(Server { state, listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish
    /// and checkpoints the WAL so the database file is self-contained.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        crate::rag::processing::resume_pending(self.state.clone());
        let _scheduler = crate::automations::start(self.state.clone());
        let _timers = crate::chat::timers::start(self.state.clone());
        let apps = crate::apps::start(self.state.clone());
        let app = router(self.state.clone());
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        apps.abort();
        checkpoint(&self.state).await
    }

    /// Like [`Server::run`], over HTTPS with `tls` (and, when asked, a plain
    /// HTTP port that redirects to it).
    pub async fn run_tls(
        self,
        tls: tls::TlsSetup,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let pair = tls::load_pair(&tls.cert, &tls.key)?;
        let store = tls::CertStore::new(pair);
        let config = tls::server_config(store.clone())?;
        let stop = tokio_util::sync::CancellationToken::new();
        let redirect = match tls.redirect_port {
            Some(port) => {
                let ip = self.local_addr()?.ip();
                let l = TcpListener::bind(SocketAddr::new(ip, port))
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen on port {port}: {e}"))?;
                let https_port = self.local_addr()?.port();
                Some(tokio::spawn(tls::serve::serve_redirect(
                    l,
                    https_port,
                    stop.clone(),
                )))
            }
            None => None,
        };
        let watcher = tls::watch(tls, store);
        crate::rag::processing::resume_pending(self.state.clone());
        let _scheduler = crate::automations::start(self.state.clone());
        let _timers = crate::chat::timers::start(self.state.clone());
        let apps = crate::apps::start(self.state.clone());
        let app = router(self.state.clone());
        tokio::spawn(tls::serve::cancel_on(shutdown, stop.clone()));
        let make = move |remote: SocketAddr| {
            use tower::ServiceExt;
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(remote));
                    req
                })
        };
        let Server { state, listener } = self;
        let served = tls::serve::serve_tls(listener, config, make, stop.clone()).await;
        stop.cancel();
        watcher.abort();
        apps.abort();
        if let Some(r) = redirect {
            let _ = r.await;
        }
        served?;
        checkpoint(&state).await
    }
}

/// Checkpoints the WAL so the database file is self-contained.
async fn checkpoint(state: &AppState) -> anyhow::Result<()> {
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || {
        db.with_writer_blocking(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);"))
    })
    .await??;
    Ok(())
}
