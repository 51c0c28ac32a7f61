//! Unico's operational store: the single customer view, kept private by design.
//!
//! What changes one row at a time and must never be lost lives here: the customer master
//! (one person, several cards), consents with their full history, the merges that made one
//! customer out of two registrations (each with its evidence, each reversible), and an
//! append-only audit log. SQLite by default, PostgreSQL when the URL says so; the same SQL
//! runs on both through sqlx's `Any` driver, with one migration set per backend.
//!
//! Personal data is stored only sealed (see [`crypto`]): names, e-mails, phones, addresses,
//! birth dates, tax codes and card numbers never reach the database in clear, and erasing a
//! customer destroys their key. Read the modules in this order: [`normalise`] (what a field
//! becomes), [`crypto`] (how it is sealed), [`customers`] (import), [`dedupe`] (one person,
//! one customer), [`privacy`] (view, consents, export, erasure), [`profiles`] (what the
//! server reads about a cardholder's behaviour).
#![warn(missing_docs)]

pub mod audiences;
pub mod campaigns;
pub mod crypto;
pub mod customers;
pub mod dedupe;
pub mod kpis;
pub mod messages;
pub mod normalise;
pub mod orders;
pub mod pos;
pub mod privacy;
pub mod profiles;
pub mod shoppers;
pub mod staff;
pub mod triggers;
pub mod webhooks;

use crypto::MasterKey;
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use std::fmt;

/// What went wrong, for callers that react differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input file or a mapping cannot be used.
    Input,
    /// No customer matches the reference given.
    NotFound,
    /// The database failed or refused.
    Database,
    /// Stored data does not decrypt: a wrong master key or damage.
    Crypto,
    /// The request conflicts with what is stored (a campaign stored already).
    Conflict,
    /// A bug in Unico.
    Internal,
}

impl ErrorKind {
    /// The stable machine code of this kind (as in docs/errors.md).
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Input => "input.invalid",
            ErrorKind::NotFound => "customer.not_found",
            ErrorKind::Database => "storage",
            ErrorKind::Crypto => "key.invalid",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Internal => "internal",
        }
    }
}

/// An error of the operational store.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The error this one comes from, kept as it is.
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }
    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Keeps `e` as the cause of this error.
    pub fn caused_by(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(e));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as _)
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if disk_full(&e) {
            return Error::new(
                ErrorKind::Database,
                "the disk holding the database is full: free some space and run the command again \
                 (what was stored before stays, and a re-run does not duplicate it)",
            )
            .caused_by(e);
        }
        Error::new(ErrorKind::Database, format!("database: {e}")).caused_by(e)
    }
}

/// Whether the database failed for lack of disk space: SQLite's `SQLITE_FULL` (13),
/// PostgreSQL's `disk_full` (53100), or the operating system's "no space left".
fn disk_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("13" | "53100")),
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::new(ErrorKind::Database, format!("database migration: {e}")).caused_by(e)
    }
}

impl From<unico_lake::Error> for Error {
    fn from(e: unico_lake::Error) -> Self {
        let kind = match e.kind() {
            unico_lake::ErrorKind::Io | unico_lake::ErrorKind::Internal => ErrorKind::Internal,
            _ => ErrorKind::Input,
        };
        Error::new(kind, e.to_string()).caused_by(e)
    }
}

impl From<crypto::CryptoError> for Error {
    fn from(e: crypto::CryptoError) -> Self {
        Error::new(ErrorKind::Crypto, format!("{e} (is this the master key the data was sealed with?)")).caused_by(e)
    }
}

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (a file in the data directory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// SQLite's page cache during a bulk import, MiB (see [`Store::bulk_cache`]).
pub const BULK_CACHE_MIB: u64 = 2048;

/// The operational store: cheap to clone (the clones share one connection pool).
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) key: MasterKey,
    backend: Backend,
    /// SQLite has one writer at a time: the tills' writes of this process queue here in
    /// order, rather than polling for the lock (busy timeout) and finishing out of turn.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// The personal data of one registration, as sealed in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pii {
    /// First name, for display.
    pub first_name: Option<String>,
    /// Last name, for display.
    pub last_name: Option<String>,
    /// E-mail, lower case.
    pub email: Option<String>,
    /// Phone in E.164.
    pub phone: Option<String>,
    /// Birth date, ISO.
    pub birth_date: Option<String>,
    /// Street address.
    pub address: Option<String>,
    /// Postcode.
    pub postcode: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Codice fiscale.
    pub tax_code: Option<String>,
    /// When the person registered, ISO date.
    pub registered_at: Option<String>,
}

/// Purposes (and channels) a person consents to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Marketing communications at all.
    Marketing,
    /// Profiling: personalised offers built from their purchases.
    Profiling,
    /// Contact by e-mail.
    Email,
    /// Contact by SMS.
    Sms,
    /// Notifications in the app.
    App,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 5] = [Purpose::Marketing, Purpose::Profiling, Purpose::Email, Purpose::Sms, Purpose::App];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::Marketing => "marketing",
            Purpose::Profiling => "profiling",
            Purpose::Email => "email",
            Purpose::Sms => "sms",
            Purpose::App => "app",
        }
    }

    /// Parses a stored or typed name.
    pub fn parse(text: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

pub(crate) fn now() -> String {
    stamp(jiff::Timestamp::now())
}

/// An instant as the store keeps it: UTC, microseconds, fixed width, so that text order
/// is time order (consents are current by when they happened).
pub fn stamp(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl Store {
    /// Opens (creating if needed) the store at `url` — `sqlite://path` or
    /// `postgres://user:password@host/db` — and brings its schema up to date.
    pub async fn open(url: &str, key: MasterKey) -> Result<Store, Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(Error::new(
                ErrorKind::Input,
                format!("database_url must start with sqlite: or postgres://, got {url:?}"),
            ));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
            }
            _ => url.to_string(),
        };
        // SQLite in WAL mode: readers run side by side and never block the writer; writers
        // take the lock at BEGIN IMMEDIATE and wait their turn (busy timeout below).
        // SQLite has one writer at a time: a few connections serve its readers. PostgreSQL
        // serves the tills' confirms side by side: one per request in flight, up to 16.
        let connections = if backend == Backend::Sqlite { 4 } else { 16 };
        let mut options = AnyPoolOptions::new().max_connections(connections);
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    // Another process writing waits, rather than "database is locked".
                    sqlx::query("PRAGMA busy_timeout = 30000").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA secure_delete = ON").execute(&mut *conn).await?;
                    // Lookups are keyed hashes: inserts land all over the indexes, so give
                    // SQLite a page cache that holds them (128 MiB) and map the file.
                    sqlx::query("PRAGMA cache_size = -131072").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA mmap_size = 1073741824").execute(&mut *conn).await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(&url).await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        let store = Store { pool, key, backend, writer: Default::default() };
        store.check_key().await?;
        Ok(store)
    }

    /// Refuses a master key other than the one the stored personal data was sealed with
    /// (a wrong key would otherwise look like "no customer matches"). The first key to
    /// open a store leaves a keyed check value; a store from before the check is verified
    /// on one sealed row first.
    async fn check_key(&self) -> Result<(), Error> {
        let wrong = || {
            Error::new(
                ErrorKind::Crypto,
                "the master key (UNICO_MASTER_KEY or secrets/master.key) is not the one this store's personal data was sealed with",
            )
        };
        let check = self.key.lookup("key-check", "unico");
        let stored: Option<(String,)> =
            sqlx::query_as("SELECT value FROM store_meta WHERE name = 'key_check'").fetch_optional(&self.pool).await?;
        if let Some((value,)) = stored {
            return if value == check { Ok(()) } else { Err(wrong()) };
        }
        let sealed: Option<(String, Vec<u8>)> =
            sqlx::query_as("SELECT token, wrapped_key FROM customers WHERE wrapped_key IS NOT NULL LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        if let Some((token, wrapped)) = sealed
            && self.key.unwrap(&token, &wrapped).is_err()
        {
            return Err(wrong());
        }
        sqlx::query("INSERT INTO store_meta (name, value) VALUES ('key_check', $1) ON CONFLICT (name) DO NOTHING")
            .bind(&check)
            .execute(&self.pool)
            .await?;
        let (value,): (String,) =
            sqlx::query_as("SELECT value FROM store_meta WHERE name = 'key_check'").fetch_one(&self.pool).await?;
        if value == check { Ok(()) } else { Err(wrong()) }
    }

    /// A transaction that writes: on SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so a second writer waits its turn (busy timeout) instead of failing
    /// with "database is locked" when its read would have to become a write.
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, Error> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// On SQLite, a page cache of [`BULK_CACHE_MIB`] for this transaction's connection
    /// (`on`), or back to the usual 128 MiB. A bulk import writes keyed hashes all over
    /// seven indexes; once they outgrow the cache, inserts keep evicting pages they soon
    /// need again (measured in docs/benchmarks.md). PostgreSQL: nothing (its buffers are
    /// the server's).
    pub(crate) async fn bulk_cache(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, on: bool) -> Result<(), Error> {
        if self.backend == Backend::Sqlite {
            let kib = if on { BULK_CACHE_MIB * 1024 } else { 131_072 };
            sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA cache_size = -{kib}"))).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Refreshes the planner's statistics after a bulk load: on PostgreSQL a table just
    /// filled looks empty to the planner until autovacuum gets to it, and a till's confirm
    /// would scan the cards instead of using their index (measured: 89 confirms a second
    /// right after loading 100,000 customers, 1,670 once analysed). SQLite: `PRAGMA optimize`.
    pub(crate) async fn analyze(&self) -> Result<(), Error> {
        let sql = match self.backend {
            Backend::Sqlite => "PRAGMA optimize",
            Backend::Postgres => "ANALYZE",
        };
        sqlx::query(sql).execute(&self.pool).await?;
        Ok(())
    }

    /// On SQLite, this process's turn to write (held until dropped); on PostgreSQL, none:
    /// writers run side by side.
    pub(crate) async fn writer_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        }
    }

    /// The database behind the store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the connections (and, for SQLite, checkpoints the log into the file).
    pub async fn close(self) {
        if self.backend == Backend::Sqlite {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await;
        }
        self.pool.close().await;
    }

    /// Appends to the audit log (which refuses updates and deletes).
    pub(crate) async fn audit<'e, E>(
        executor: E,
        action: &str,
        customer: Option<i64>,
        details: &str,
    ) -> Result<(), Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query("INSERT INTO audit (at, action, customer_id, details) VALUES ($1, $2, $3, $4)")
            .bind(now())
            .bind(action)
            .bind(customer)
            .bind(details)
            .execute(executor)
            .await?;
        Ok(())
    }

    /// The customer a reference names — a card number, an e-mail, a phone number, or `#id` —
    /// following merges to the customer that absorbed it.
    pub async fn resolve(&self, reference: &str) -> Result<i64, Error> {
        let r = reference.trim();
        let direct: Option<i64> = if let Some(id) = r.strip_prefix('#') {
            id.parse().ok()
        } else if r.contains('@') {
            let e = normalise::email(r).map_err(|m| Error::new(ErrorKind::Input, m))?;
            self.one_id(
                "SELECT id FROM customers WHERE email_hash = $1 ORDER BY id LIMIT 1",
                &self.key.lookup("email", &e),
            )
            .await?
        } else {
            let by_card = self
                .one_id("SELECT origin_customer_id FROM cards WHERE card_hash = $1", &self.key.lookup("card", r))
                .await?;
            match by_card {
                Some(id) => Some(id),
                None => match normalise::phone(r, phonenumber::country::Id::IT) {
                    Ok(p) => {
                        self.one_id(
                            "SELECT id FROM customers WHERE phone_hash = $1 ORDER BY id LIMIT 1",
                            &self.key.lookup("phone", &p),
                        )
                        .await?
                    }
                    Err(_) => None,
                },
            }
        };
        let Some(mut id) = direct else {
            let erased: Option<(String,)> = sqlx::query_as("SELECT erased_at FROM erased_cards WHERE card_hash = $1")
                .bind(self.key.lookup("card", r))
                .fetch_optional(&self.pool)
                .await?;
            return Err(Error::new(
                ErrorKind::NotFound,
                match erased {
                    Some((at,)) => format!("the card {r:?} was erased on {}", at.get(..10).unwrap_or(&at)),
                    None => format!("no customer matches {r:?}"),
                },
            ));
        };
        // Follow merges to the surviving customer.
        for _ in 0..64 {
            let row: Option<(Option<i64>,)> = sqlx::query_as("SELECT merged_into FROM customers WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            match row {
                None => return Err(Error::new(ErrorKind::NotFound, format!("no customer matches {r:?}"))),
                Some((Some(next),)) => id = next,
                Some((None,)) => return Ok(id),
            }
        }
        Err(Error::new(ErrorKind::Internal, "a cycle of merges"))
    }

    async fn one_id(&self, sql: &'static str, hash: &str) -> Result<Option<i64>, Error> {
        let row: Option<(i64,)> = sqlx::query_as(sql).bind(hash).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.0))
    }
}
