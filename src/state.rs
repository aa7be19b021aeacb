//! What every handler shares.

use std::sync::Arc;

use crate::auth::rate_limit::SigninThrottle;
use crate::cache::Cache;
use crate::config::ConfigStore;
use crate::db::Db;
use crate::settings::Settings;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub db: Db,
    pub config: ConfigStore,
    pub cache: Cache,
    pub signin_limiter: SigninThrottle,
    pub io: std::sync::OnceLock<socketioxide::SocketIo>,
    pub tasks: crate::chat::tasks::TaskRegistry,
    /// Retrieval engine (`state.rag`); opens its files and model on first use.
    pub rag: Arc<crate::rag::Rag>,
    /// Streams that users' tabs forward for direct-connection completions.
    pub direct_channels: crate::chat::direct_channels::Channels,
    /// OAuth / OpenID Connect sign-in: providers and logins in progress.
    pub oauth: crate::auth::oauth::OAuth,
    /// Live connections to external apps (`crate::apps::link`).
    pub apps: crate::apps::peers::Connections,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The settings, for rooms that need nothing else of the state (the
/// retrieval engine, which the state holds, so it cannot name the state).
impl AsRef<ConfigStore> for AppState {
    fn as_ref(&self) -> &ConfigStore {
        &self.0.config
    }
}

impl AppState {
    /// Opens the database (migrating it), seeds config and opens the cache.
    pub fn open(settings: Settings) -> anyhow::Result<AppState> {
        let db = Db::open(&settings.db_path())?;
        let config = ConfigStore::load(&db, settings.persistent_config)?;
        let cache = Cache::open(&settings.data_dir.join("cache"))?;
        for sub in ["uploads", "cache/audio/speech", "cache/image/generations"] {
            std::fs::create_dir_all(settings.data_dir.join(sub))?;
        }
        let settings_data_dir = settings.data_dir.clone();
        let oauth = crate::auth::oauth::OAuth::new(settings.oauth.clone(), &settings.secret_key);
        Ok(AppState(Arc::new(Inner {
            settings,
            db,
            config,
            cache,
            // Failed sign-ins per address and per (address, account): auth/rate_limit.rs.
            signin_limiter: SigninThrottle::default(),
            io: std::sync::OnceLock::new(),
            tasks: Default::default(),
            rag: Arc::new(crate::rag::Rag::new(settings_data_dir.join("vector_db"))),
            direct_channels: Default::default(),
            oauth,
            apps: Default::default(),
        })))
    }

    pub fn io(&self) -> Option<&socketioxide::SocketIo> {
        self.0.io.get()
    }
}
