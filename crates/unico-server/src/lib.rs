//! `unico serve`: the back office's HTTP API over the service layer.
//!
//! One server serves one retailer (a data directory) or several (`tenants.toml`), each with
//! its own lake, store and keys, so no query can cross from one to another: a session
//! token names its tenant and is checked in that tenant's store only. Every route is in
//! the role matrix ([`access::MATRIX`]), enforced by one middleware before any handler.
//! Handlers are thin: they parse, check, call one operation of `unico_app::App` on
//! tokio's blocking threads, and answer JSON. Long work runs as a job ([`jobs`]).
//! See `docs/api.md`.

pub mod access;
mod auth;
pub mod error;
mod jobs;
mod observe;
mod office;
pub mod openapi;
mod orders;
mod pos;
mod routes;
mod shopper;
mod web;
pub mod webhooks;

use axum::Router;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use unico_app::App;

pub use error::{ApiError, ApiResult};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Tenants by name, each with its data directory. One tenant: `tenant` in a login is
    /// optional.
    pub tenants: BTreeMap<String, PathBuf>,
    /// How long a login lasts, hours.
    pub session_hours: i64,
    /// The largest upload or request body, bytes.
    pub max_body_bytes: usize,
    /// How long a request may take (jobs run beyond it, in the background).
    pub request_timeout: Duration,
    /// Failed-login budget per e-mail and per address, per minute.
    pub logins_per_minute: u32,
    /// Test hook: jobs wait this long after starting (to interrupt one).
    pub job_pause: Option<Duration>,
    /// How often the webhook outbox is looked at.
    pub webhook_poll: Duration,
    /// The first retry's wait; each next one doubles it (capped at six hours).
    pub webhook_backoff: Duration,
    /// Attempts before a message is dead-lettered.
    pub webhook_max_attempts: u32,
    /// How often the tills' wallets apply the store's changes.
    pub pos_poll: Duration,
    /// How often collected click-and-collect orders are written to the lake.
    pub orders_to_lake: Duration,
    /// Mark the session cookies `Secure` (HTTPS only): on whenever browsers reach the
    /// server over HTTPS (directly or through a proxy).
    pub secure_cookies: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            tenants: BTreeMap::new(),
            session_hours: 12,
            max_body_bytes: 512 * 1024 * 1024,
            request_timeout: Duration::from_secs(120),
            logins_per_minute: 5,
            job_pause: None,
            webhook_poll: Duration::from_secs(1),
            webhook_backoff: Duration::from_secs(30),
            webhook_max_attempts: 8,
            pos_poll: Duration::from_secs(1),
            orders_to_lake: Duration::from_secs(3600),
            secure_cookies: false,
        }
    }
}

/// The tenants file: `[[tenant]]` tables with `name` and `data`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsFile {
    tenant: Vec<TenantEntry>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantEntry {
    name: String,
    data: PathBuf,
}

/// Reads a tenants file (relative data paths are relative to the file).
pub fn read_tenants(path: &std::path::Path) -> Result<BTreeMap<String, PathBuf>, unico_app::Error> {
    use unico_app::Code;
    let text = std::fs::read_to_string(path)
        .map_err(|e| unico_app::Error::with_source(Code::InputInvalid, format!("cannot read {}", path.display()), e))?;
    let file: TenantsFile = toml::from_str(&text)
        .map_err(|e| unico_app::Error::new(Code::InputInvalid, format!("{}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    let mut out = BTreeMap::new();
    for t in file.tenant {
        let ok = !t.name.is_empty() && t.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(unico_app::Error::new(
                Code::InputInvalid,
                format!("tenant name {:?}: letters, digits, '-' and '_' only", t.name),
            ));
        }
        if out.insert(t.name.clone(), base.join(&t.data)).is_some() {
            return Err(unico_app::Error::new(Code::InputInvalid, format!("tenant {:?} twice", t.name)));
        }
    }
    if out.is_empty() {
        return Err(unico_app::Error::new(Code::InputInvalid, format!("{}: no [[tenant]]", path.display())));
    }
    Ok(out)
}

/// One retailer served.
pub(crate) struct Tenant {
    pub name: String,
    pub app: Arc<App>,
}

/// What every request shares.
pub(crate) struct State {
    pub tenants: BTreeMap<String, Arc<Tenant>>,
    pub config: Config,
    pub limiter: auth::Limiter,
    /// Registrations and link codes, per card or e-mail and per address.
    pub codes: auth::Limiter,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl State {
    /// The only tenant, when there is one.
    pub fn single(&self) -> Option<&Arc<Tenant>> {
        (self.tenants.len() == 1).then(|| self.tenants.values().next()).flatten()
    }
}

/// The server, ready to be bound.
pub struct Server {
    state: Arc<State>,
}

impl Server {
    /// Opens every tenant's data directory and fails the jobs a previous run left unfinished.
    pub fn open(config: Config) -> Result<Server, unico_app::Error> {
        let mut apps = Vec::new();
        for (name, dir) in &config.tenants {
            apps.push((name.clone(), Arc::new(App::open(dir)?)));
        }
        Server::from_apps(apps, config)
    }

    /// A server over data directories already open (`config.tenants` is ignored).
    pub fn from_apps(apps: Vec<(String, Arc<App>)>, config: Config) -> Result<Server, unico_app::Error> {
        let mut tenants = BTreeMap::new();
        for (name, app) in apps {
            // Opening the store here surfaces a wrong key or an unreachable database at once.
            let interrupted = app.fail_interrupted_jobs()?;
            if interrupted > 0 {
                tracing::warn!(tenant = %name, interrupted, "jobs left unfinished by the last run are marked failed");
            }
            // The tills' wallets: in memory before the first request.
            app.pos_load()?;
            tenants.insert(name.clone(), Arc::new(Tenant { name: name.clone(), app }));
        }
        let limiter = auth::Limiter::new(config.logins_per_minute);
        let codes = auth::Limiter::new(config.logins_per_minute);
        let state = Arc::new(State { tenants, limiter, codes, metrics: observe::recorder(), config });
        Ok(Server { state })
    }

    /// The router with every route and layer.
    pub fn router(&self) -> Router {
        routes::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then finishes the requests under way.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        let deliverer = tokio::spawn(webhooks::run(self.state.clone()));
        let refreshers: Vec<_> = self
            .state
            .tenants
            .values()
            .flat_map(|t| {
                [
                    tokio::spawn(pos::refresher(t.clone(), self.state.config.pos_poll)),
                    tokio::spawn(orders::to_lake(t.clone(), self.state.config.orders_to_lake)),
                    tokio::spawn(orders::mail(t.clone(), self.state.config.webhook_poll.max(Duration::from_secs(5)))),
                ]
            })
            .collect();
        let served = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        deliverer.abort();
        for r in refreshers {
            r.abort();
        }
        served
    }
}
