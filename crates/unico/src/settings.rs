//! One settings struct: defaults, then `<data>/unico.toml`, then `UNICO_*` variables.
//!
//! The data directory holds everything Unico keeps on this machine:
//! `unico.toml` (these settings), `lake/` (Parquet), `rejects/` (one CSV per import with
//! rejected rows) and `secrets/` (the pseudonymisation key; never printed, never in the lake).

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Settings read from `unico.toml`; every key can be overridden by `UNICO_<KEY>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The chain's IANA time zone: local dates, month partitions and daily KPIs use it.
    pub timezone: String,
    /// ISO 4217 currency of every amount (amounts are integer cents of it).
    pub currency: String,
    /// The operational store: `sqlite://…` or `postgres://user:password@host/db`.
    /// Default: `unico.db` (SQLite) in the data directory.
    pub database_url: Option<String>,
    /// ISO 3166 country of phone numbers written without a prefix.
    pub default_country: String,
    /// Duplicate registrations scoring at least this (0–1) are merged on import.
    pub dedupe_threshold: f64,
    /// Version of the privacy policy consents in imported files refer to, when they do not say.
    pub privacy_policy_version: String,
    /// The behavioural model: time unit, RFM, horizons (`[model]` table).
    pub model: unico_model::build::ModelSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: "Europe/Rome".into(),
            currency: "EUR".into(),
            database_url: None,
            default_country: "IT".into(),
            dedupe_threshold: 0.9,
            privacy_policy_version: "1".into(),
            model: unico_model::build::ModelSettings::default(),
        }
    }
}

const TEMPLATE: &str = r#"# Unico settings. Every key can be overridden by an environment variable UNICO_<KEY>,
# for example UNICO_TIMEZONE=Europe/Madrid.

# The chain's time zone (IANA name). Local dates, month partitions and daily KPIs use it.
timezone = "Europe/Rome"

# Currency of every amount; amounts are stored as integer cents of it.
currency = "EUR"

# The operational store (customers, consents, offers). Default: SQLite file unico.db here.
# database_url = "postgres://unico:secret@db.example/unico"

# Country of phone numbers written without an international prefix.
default_country = "IT"

# Registrations of the same person scoring at least this (0-1) are merged on import;
# `unico customers duplicates` lists the pairs below it for review.
dedupe_threshold = 0.9

# Privacy-policy version that imported consents refer to when the file does not say.
privacy_policy_version = "1"

# The behavioural model built by `unico model build`.
[model]
# Time unit of BG/NBD and every time it reports: "days" or "weeks".
unit = "days"
# RFM frequency and monetary value count the last this many days.
rfm_window_days = 365
# Horizon of each customer's expected purchases, in days.
horizon_days = 90
# Customer lifetime value: months ahead and monthly discount rate.
clv_months = 12
monthly_discount = 0.01
# Receipt lines the per-product passes (habits, recommendations) hold in memory; beyond it
# they are split by customer and spilled to model/tmp (about 24 bytes a line in memory).
max_lines_in_memory = 32000000

[model.rfm]
# Score levels (5 = quintiles).
bins = 5
# "recent_is_better" for consumables; "older_is_better" for durable goods, where an older
# purchase means a closer next need.
recency = "recent_is_better"

[model.habits]
# Purchase days of a category before its cycle and next due date are estimated.
min_purchases = 3
# Purchase days of a product before it gets a habit of its own (a "frequent item").
product_min_purchases = 4

# `unico recommend`: probability of a purchase within horizon_days, from the customer's own
# purchase rate shrunk towards a prior (item-item similarity, category affinity, popularity).
[model.recommend]
horizon_days = 91
# Weight of the prior, in purchase days.
prior_strength = 3.0
# Similar products kept per product.
neighbours = 50
# Share of global popularity in the prior, and of category affinity in the rest.
popularity_weight = 0.3
category_weight = 0.5
# Best sellers taking part in item-item similarity (4 bytes per pair of them in memory).
max_items = 8000
"#;

/// The data directory and its settings.
pub struct DataDir {
    pub root: PathBuf,
    pub settings: Settings,
}

impl DataDir {
    /// Creates the layout if missing (never overwriting an existing file).
    pub fn init(root: &Path) -> Result<DataDir> {
        for sub in ["lake", "rejects", "secrets"] {
            std::fs::create_dir_all(root.join(sub))
                .with_context(|| format!("cannot create {}", root.join(sub).display()))?;
        }
        let toml_path = root.join("unico.toml");
        if !toml_path.exists() {
            std::fs::write(&toml_path, TEMPLATE).with_context(|| format!("cannot write {}", toml_path.display()))?;
        }
        let key = root.join("secrets/pseudonym.key");
        if !key.exists() {
            let mut secret = [0u8; unico_core::SECRET_LEN];
            rand::fill(&mut secret);
            write_private(&key, hex::encode(secret).as_bytes())?;
        }
        let master = root.join("secrets/master.key");
        if !master.exists() && std::env::var_os("UNICO_MASTER_KEY").is_none() {
            write_private(&master, unico_store::crypto::MasterKey::generate_hex().as_bytes())?;
        }
        DataDir::open(root)
    }

    /// Opens an initialised data directory.
    pub fn open(root: &Path) -> Result<DataDir> {
        let toml_path = root.join("unico.toml");
        if !toml_path.exists() {
            bail!(
                "{} is not a Unico data directory (no unico.toml): run `unico init --data {}` first",
                root.display(),
                root.display()
            );
        }
        let text =
            std::fs::read_to_string(&toml_path).with_context(|| format!("cannot read {}", toml_path.display()))?;
        let mut settings: Settings =
            toml::from_str(&text).with_context(|| format!("{} is not valid", toml_path.display()))?;
        if let Ok(tz) = std::env::var("UNICO_TIMEZONE") {
            settings.timezone = tz;
        }
        if let Ok(c) = std::env::var("UNICO_CURRENCY") {
            settings.currency = c;
        }
        if let Ok(u) = std::env::var("UNICO_DATABASE_URL") {
            settings.database_url = Some(u);
        }
        if let Ok(c) = std::env::var("UNICO_DEFAULT_COUNTRY") {
            settings.default_country = c;
        }
        if let Ok(t) = std::env::var("UNICO_DEDUPE_THRESHOLD") {
            settings.dedupe_threshold =
                t.parse().with_context(|| format!("UNICO_DEDUPE_THRESHOLD={t:?} is not a number"))?;
        }
        jiff::tz::TimeZone::get(&settings.timezone)
            .with_context(|| format!("timezone {:?} is not an IANA time zone", settings.timezone))?;
        Ok(DataDir { root: root.to_path_buf(), settings })
    }

    pub fn lake_dir(&self) -> PathBuf {
        self.root.join("lake")
    }

    pub fn model_dir(&self) -> PathBuf {
        self.root.join("model")
    }

    pub fn rejects_dir(&self) -> PathBuf {
        self.root.join("rejects")
    }

    pub fn chain_tz(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.settings.timezone).expect("checked in open()")
    }

    /// The operational store's URL (never printed: it may hold a password).
    pub fn database_url(&self) -> String {
        self.settings
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.root.join("unico.db").display()))
    }

    /// The master key of personal data: `UNICO_MASTER_KEY`, else `secrets/master.key`.
    pub fn master_key(&self) -> Result<unico_store::crypto::MasterKey> {
        let text = match std::env::var("UNICO_MASTER_KEY") {
            Ok(k) => k,
            Err(_) => {
                let path = self.root.join("secrets/master.key");
                std::fs::read_to_string(&path).with_context(|| {
                    format!("cannot read the master key {} (or set UNICO_MASTER_KEY)", path.display())
                })?
            }
        };
        unico_store::crypto::MasterKey::from_hex(&text).context("the master key must be 64 hex characters")
    }

    /// The default country of phone numbers.
    pub fn default_country(&self) -> Result<phonenumber::country::Id> {
        self.settings.default_country.parse().map_err(|_| {
            anyhow::anyhow!("default_country {:?} is not an ISO 3166 country code", self.settings.default_country)
        })
    }

    /// Opens the operational store.
    pub fn store(&self, runtime: &tokio::runtime::Runtime) -> Result<unico_store::Store> {
        let key = self.master_key()?;
        let url = self.database_url();
        runtime.block_on(unico_store::Store::open(&url, key)).context("cannot open the operational store")
    }

    /// The key offer codes are made with: derived from the data directory's secret for
    /// this one use, so codes cannot be computed without it and reveal nothing of it.
    pub fn offer_secret(&self) -> Result<Vec<u8>> {
        use hmac::{Hmac, Mac};
        let path = self.root.join("secrets/pseudonym.key");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the pseudonymisation key {}", path.display()))?;
        let secret = hex::decode(text.trim()).with_context(|| format!("{} is damaged", path.display()))?;
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).expect("HMAC takes any key length");
        mac.update(b"unico offer codes");
        Ok(mac.finalize().into_bytes().to_vec())
    }

    /// The pseudonymiser keyed with the data directory's secret.
    pub fn pseudonymiser(&self) -> Result<unico_core::Pseudonymiser> {
        let path = self.root.join("secrets/pseudonym.key");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the pseudonymisation key {}", path.display()))?;
        let mut secret = [0u8; unico_core::SECRET_LEN];
        hex::decode_to_slice(text.trim(), &mut secret).with_context(|| format!("{} is damaged", path.display()))?;
        Ok(unico_core::Pseudonymiser::new(&secret))
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
