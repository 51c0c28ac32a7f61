//! The service layer: one typed operation for everything a user can do with Unico, and
//! the only place that combines the domain crates (lake, store, model, offers, KPIs,
//! simulator). The CLI and the server are two edges over it: they parse a request, call one
//! operation of an [`App`] and present its typed result or its [`Error`]'s code.
//!
//! An [`App`] is opened on a data directory: its settings, its keys and one pool of the
//! operational store, opened on first use. Operations take typed requests and return
//! `Serialize` results (no JSON assembled by hand), report long work through a
//! [`Progress`] the edge implements, and never print, exit or read the environment
//! except through the `env` an App is opened with. Lake passes block: an async edge calls
//! them through [`App::blocking`], which runs them on tokio's blocking threads.
//!
//! Read the modules in data-flow order: [`settings`], [`import`], [`model`], [`plan`],
//! [`kpi`], [`customers`], [`simulate`].

#![warn(missing_docs)]

pub mod audiences;
pub mod billing;
pub mod customers;
pub mod demo;
pub mod erasure;
pub mod error;
pub mod import;
pub mod kpi;
pub mod messages;
pub mod model;
pub mod orders;
pub mod plan;
pub mod pos;
pub mod progress;
pub mod settings;
pub mod shopper;
mod simlake;
pub mod simulate;
pub mod staff;
pub mod triggers;

pub use error::{Code, Context, Error, Problem, Result};
pub use progress::{Progress, Silent, Unit};
pub use settings::Settings;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How an App reads its environment (`UNICO_*` settings, the master key).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment.
pub fn process_env() -> Env {
    Arc::new(|name| std::env::var(name).ok())
}

/// A data directory opened: settings, keys and the operational store.
pub struct App {
    root: PathBuf,
    settings: Settings,
    env: Env,
    runtime: Option<tokio::runtime::Runtime>,
    store: Mutex<Option<unico_store::Store>>,
    pos: pos::Pos,
}

impl App {
    /// Creates the layout of a data directory if missing (never overwriting a file):
    /// `unico.toml`, `lake/`, `rejects/`, a new pseudonymisation key and master key.
    pub fn init(root: &Path) -> Result<App> {
        App::init_with(root, process_env())
    }

    /// [`App::init`] with the environment given.
    pub fn init_with(root: &Path, env: Env) -> Result<App> {
        use std::os::unix::fs::PermissionsExt;
        for sub in ["lake", "rejects", "secrets"] {
            std::fs::create_dir_all(root.join(sub))
                .with_context(|| format!("cannot create {}", root.join(sub).display()))?;
        }
        // The directory, its secrets and its rejects (card numbers) are the owner's only.
        for dir in [root.to_path_buf(), root.join("secrets"), root.join("rejects")] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot restrict {}", dir.display()))?;
        }
        let toml_path = root.join("unico.toml");
        if !toml_path.exists() {
            unico_core::fs::write_atomic(&toml_path, settings::TEMPLATE.as_bytes())
                .with_context(|| format!("cannot write {}", toml_path.display()))?;
        }
        let key = root.join("secrets/pseudonym.key");
        if !key.exists() {
            let mut secret = [0u8; unico_core::SECRET_LEN];
            rand::fill(&mut secret);
            write_private(&key, hex::encode(secret).as_bytes())?;
        }
        let master = root.join("secrets/master.key");
        if !master.exists() && env("UNICO_MASTER_KEY").is_none() {
            write_private(&master, unico_store::crypto::MasterKey::generate_hex().as_bytes())?;
        }
        App::open_with(root, env)
    }

    /// Opens an initialised data directory.
    pub fn open(root: &Path) -> Result<App> {
        App::open_with(root, process_env())
    }

    /// [`App::open`] with the environment given.
    pub fn open_with(root: &Path, env: Env) -> Result<App> {
        let toml_path = root.join("unico.toml");
        if !toml_path.exists() {
            bail!(
                Code::DataDirMissing,
                "{} is not a Unico data directory (no unico.toml): run `unico init --data {}` first",
                root.display(),
                root.display()
            );
        }
        let text =
            std::fs::read_to_string(&toml_path).with_context(|| format!("cannot read {}", toml_path.display()))?;
        let settings = Settings::load(&text, &*env).with_context(|| format!("{} is not valid", toml_path.display()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("unico-store")
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        Ok(App {
            root: root.to_path_buf(),
            settings,
            env,
            runtime: Some(runtime),
            store: Mutex::new(None),
            pos: pos::Pos::default(),
        })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The lake's directory.
    pub fn lake_dir(&self) -> PathBuf {
        self.root.join("lake")
    }

    /// The published model's directory, resolved now: `model/versions/<id>` behind the
    /// link `model/current` (or `model` itself in a data directory from before versions).
    /// Resolve it once per operation: every file of one build is then read together.
    pub fn model_dir(&self) -> PathBuf {
        let root = self.model_root();
        match std::fs::read_link(root.join(model::CURRENT)) {
            Ok(target) => root.join(target),
            Err(_) => root,
        }
    }

    /// Where the published model's files are, at a path that stays the same from build to
    /// build (`model/current/…`, for DuckDB and notebooks).
    pub fn model_path(&self) -> PathBuf {
        let current = self.model_root().join(model::CURRENT);
        if current.exists() { current } else { self.model_root() }
    }

    /// The folder of the model's versions, the learned response and the spill space.
    pub(crate) fn model_root(&self) -> PathBuf {
        self.root.join("model")
    }

    /// Where rejected rows go.
    pub fn rejects_dir(&self) -> PathBuf {
        self.root.join("rejects")
    }

    /// The chain's time zone.
    pub fn chain_tz(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.settings.timezone).expect("checked when the settings were read")
    }

    /// The chain's calendar day now.
    pub fn today(&self) -> jiff::civil::Date {
        self.chain_tz().to_datetime(jiff::Timestamp::now()).date()
    }

    /// The days a receipt may plausibly be dated (the chain's calendar).
    pub fn plausible_days(&self) -> std::ops::RangeInclusive<jiff::civil::Date> {
        let since = self.settings.plausible_since.parse().expect("checked when the settings were read");
        let ahead = jiff::Span::new().days(i64::from(self.settings.plausible_days_ahead));
        since..=self.today().checked_add(ahead).unwrap_or(jiff::civil::Date::MAX)
    }

    /// The lake, for a writer (an import): it follows every publication.
    pub fn lake(&self) -> Result<unico_lake::Lake> {
        Ok(unico_lake::Lake::open(self.lake_dir())?)
    }

    /// The lake as one reader sees it for a whole operation: every dataset at the version
    /// published when the operation began, whatever an import publishes meanwhile.
    pub fn lake_view(&self) -> Result<unico_lake::Lake> {
        Ok(self.lake()?.pinned())
    }

    /// Runs `f` on tokio's blocking threads: how an async edge calls an operation that
    /// reads the lake without stalling its runtime.
    pub async fn blocking<R: Send + 'static>(self: &Arc<Self>, f: impl FnOnce(&App) -> R + Send + 'static) -> R {
        let app = Arc::clone(self);
        match tokio::task::spawn_blocking(move || f(&app)).await {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Waits for a future of the store on the App's own runtime (from a plain thread or a
    /// blocking one; never from inside an async task).
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.as_ref().expect("the runtime lives as long as the App").block_on(f)
    }

    /// The operational store (one pool, opened on first use).
    pub fn store(&self) -> Result<unico_store::Store> {
        let mut slot = self.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let key = self.master_key()?;
        let url = self.database_url();
        // One process at a time opens (and migrates) the store: a second waits here rather
        // than finding half-created tables.
        let lock_path = self.root.join(".store.lock");
        let lock =
            std::fs::File::create(&lock_path).with_context(|| format!("cannot create {}", lock_path.display()))?;
        lock.lock().with_context(|| format!("cannot lock {}", lock_path.display()))?;
        let opened = self.block_on(unico_store::Store::open(&url, key));
        drop(lock);
        let store = opened.map_err(|e| redacted(e, &url)).context("cannot open the operational store")?;
        *slot = Some(store.clone());
        Ok(store)
    }

    /// Runs `f` with the store, on the App's runtime.
    pub(crate) fn with_store<T>(&self, f: impl AsyncFnOnce(&unico_store::Store) -> Result<T>) -> Result<T> {
        let store = self.store()?;
        self.block_on(f(&store))
    }

    /// The operational store's URL (never printed: it may hold a password).
    fn database_url(&self) -> String {
        self.settings
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.root.join("unico.db").display()))
    }

    /// The master key of personal data: `UNICO_MASTER_KEY`, else `secrets/master.key`.
    fn master_key(&self) -> Result<unico_store::crypto::MasterKey> {
        let text = match (self.env)("UNICO_MASTER_KEY") {
            Some(k) => k,
            None => {
                let path = self.root.join("secrets/master.key");
                std::fs::read_to_string(&path).with_context(|| {
                    format!("cannot read the master key {} (or set UNICO_MASTER_KEY)", path.display())
                })?
            }
        };
        unico_store::crypto::MasterKey::from_hex(&text)
            .ok_or_else(|| Error::new(Code::KeyInvalid, "the master key must be 64 hex characters"))
    }

    /// The default country of phone numbers.
    fn default_country(&self) -> phonenumber::country::Id {
        self.settings.default_country.parse().expect("checked when the settings were read")
    }

    fn pseudonym_secret(&self) -> Result<[u8; unico_core::SECRET_LEN]> {
        let path = self.root.join("secrets/pseudonym.key");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the pseudonymisation key {}", path.display()))?;
        let mut secret = [0u8; unico_core::SECRET_LEN];
        hex::decode_to_slice(text.trim(), &mut secret)
            .map_err(|_| Error::new(Code::KeyInvalid, format!("{} is damaged", path.display())))?;
        Ok(secret)
    }

    /// The key offer codes are made with: derived from the data directory's secret for
    /// this one use, so codes cannot be computed without it and reveal nothing of it.
    pub(crate) fn offer_secret(&self) -> Result<Vec<u8>> {
        use hmac::{Hmac, Mac};
        let secret = self.pseudonym_secret()?;
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).expect("HMAC takes any key length");
        mac.update(b"unico offer codes");
        Ok(mac.finalize().into_bytes().to_vec())
    }

    /// The pseudonymiser keyed with the data directory's secret.
    pub(crate) fn pseudonymiser(&self) -> Result<unico_core::Pseudonymiser> {
        Ok(unico_core::Pseudonymiser::new(&self.pseudonym_secret()?))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let store = self.store.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(rt) = self.runtime.take() {
            // Closing waits for the pool: only where blocking is allowed.
            if let Some(store) = store
                && tokio::runtime::Handle::try_current().is_err()
            {
                rt.block_on(store.close());
            }
            rt.shutdown_background();
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// A store error whose text may hold the database URL's password, with the password
/// replaced by `***` (the original error is dropped: it would print the password).
fn redacted(e: unico_store::Error, url: &str) -> Error {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(user_info, _)| user_info.split_once(':'))
        .map(|(_, password)| password)
        .filter(|p| !p.is_empty());
    let mut text = e.to_string();
    if let Some(p) = password {
        text = text.replace(p, "***");
    }
    let code = Error::from(e).code();
    Error::new(code, text)
}

/// A date argument (YYYY-MM-DD).
pub(crate) fn parse_date(what: &str, s: &str) -> Result<jiff::civil::Date> {
    s.parse().map_err(|_| Error::new(Code::InputInvalid, format!("{what} {s:?} is not a date (YYYY-MM-DD)")))
}
