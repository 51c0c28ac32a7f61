//! The people who use the back office: users with a role, logins and sessions, what each
//! did (the audit log), and the life of a campaign (planned, published, stopped).
//!
//! Passwords are hashed with argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes);
//! a session token is 32 random bytes, of which the store keeps only the SHA-256.

use crate::error::{Code, Error, Result};
use crate::{App, bail};
use serde::{Deserialize, Serialize};
use sha2::Digest;
pub use unico_store::staff::{AuditEntry, CampaignState, Job, User};

/// What a user may do; see the matrix in `docs/api.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, users included.
    Admin,
    /// Data, models, campaigns, KPIs, customers' profiles (not their personal data).
    Marketing,
    /// Their own store's KPIs.
    StoreManager,
    /// One customer at a time: the view, consents, export, erasure.
    Support,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Marketing, Role::StoreManager, Role::Support];

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Marketing => "marketing",
            Role::StoreManager => "store_manager",
            Role::Support => "support",
        }
    }

    /// The role of a name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Who is calling: a user of this data directory, from an address.
#[derive(Debug, Clone, Serialize)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// Their role.
    pub role: Role,
    /// The client's address, for the audit log.
    pub origin: Option<String>,
}

impl Caller {
    /// The command line: a person at the machine, with every right.
    pub fn cli() -> Caller {
        Caller {
            user: User {
                id: 0,
                email: "cli".into(),
                role: "admin".into(),
                store_id: None,
                created_at: String::new(),
                disabled_at: None,
            },
            role: Role::Admin,
            origin: None,
        }
    }
}

/// A session opened by a login.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// The bearer token (shown once; the store keeps its hash).
    pub token: String,
    /// When it stops working (RFC 3339, UTC).
    pub expires_at: String,
    /// The user.
    pub user: User,
}

/// A user added, with the one-time password when one was generated.
#[derive(Debug, Clone, Serialize)]
pub struct AddedUser {
    /// The user.
    pub user: User,
    /// The generated password, if none was given.
    pub password: Option<String>,
}

/// The SHA-256 of a token, as the store keeps it.
fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

pub(crate) fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::new(Code::Internal, e.to_string()))?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::new(Code::Internal, e.to_string()))?
        .to_string())
}

pub(crate) fn password_matches(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to check against when the e-mail is unknown, so a login takes as long whether
/// the user exists or not.
pub(crate) static DECOY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("decoy password").expect("argon2 hashes"));

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

impl App {
    /// Adds a user with a role (a store manager with their store). Without a password, one
    /// is generated and returned once.
    pub fn add_user(
        &self,
        email: &str,
        role: Role,
        store_id: Option<&str>,
        password: Option<&str>,
        by: &Caller,
    ) -> Result<AddedUser> {
        let email = email.trim().to_lowercase();
        if !email_address::EmailAddress::is_valid(&email) {
            bail!(Code::InputInvalid, "{email:?} is not an e-mail address");
        }
        match (role, store_id) {
            (Role::StoreManager, None) => bail!(Code::InputInvalid, "a store manager needs --store STORE_ID"),
            (Role::StoreManager, Some(_)) | (_, None) => {}
            (_, Some(_)) => bail!(Code::InputInvalid, "only a store manager has a store"),
        }
        let generated = password.is_none().then(|| {
            let bytes: [u8; 12] = rand::random();
            hex::encode(bytes)
        });
        let password = password.or(generated.as_deref()).unwrap_or_default();
        if password.chars().count() < MIN_PASSWORD {
            bail!(Code::InputInvalid, "a password has at least {MIN_PASSWORD} characters");
        }
        let hash = hash_password(password)?;
        let user = self.with_store(async |store| {
            Ok(store.add_user(&email, role.as_str(), store_id, &hash, &by.user.email, by.origin.as_deref()).await?)
        })?;
        Ok(AddedUser { user, password: generated })
    }

    /// Every user.
    pub fn users(&self) -> Result<Vec<User>> {
        self.with_store(async |store| Ok(store.users().await?))
    }

    /// Disables a user: their sessions end at once and they cannot log in again.
    pub fn disable_user(&self, email: &str, by: &Caller) -> Result<User> {
        if email.trim().eq_ignore_ascii_case(&by.user.email) {
            bail!(Code::Conflict, "a user cannot disable themself; ask another admin");
        }
        self.with_store(async |store| {
            store.disable_user(email, &by.user.email, by.origin.as_deref()).await.map_err(|e| match e.kind() {
                unico_store::ErrorKind::NotFound => Error::new(Code::NotFound, e.to_string()),
                _ => Error::from(e),
            })
        })
    }

    /// Checks an e-mail and password; opens a session lasting `hours`. A wrong password, an
    /// unknown e-mail and a disabled user get the same answer, in the same time.
    pub fn login(&self, email: &str, password: &str, hours: i64, origin: Option<&str>) -> Result<Session> {
        let found = self.with_store(async |store| Ok(store.password_hash(email).await?))?;
        let user = match found {
            Some((user, hash)) if password_matches(password, &hash) => user,
            Some(_) => return Err(Error::new(Code::Unauthorized, "wrong e-mail or password")),
            None => {
                let _ = password_matches(password, &DECOY);
                return Err(Error::new(Code::Unauthorized, "wrong e-mail or password"));
            }
        };
        let bytes: [u8; 32] = rand::random();
        let token = hex::encode(bytes);
        let expires = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(hours.clamp(1, 24 * 30)))
            .map_err(|e| Error::new(Code::Internal, e.to_string()))?;
        let expires_at = unico_store::stamp(expires);
        self.with_store(async |store| {
            store.open_session(&token_hash(&token), user.id, &expires_at).await?;
            store.record(&user.email, origin, "login", None, "{}").await?;
            Ok(())
        })?;
        Ok(Session { token, expires_at, user })
    }

    /// The caller a session token belongs to, if it is live.
    pub fn session(&self, token: &str, origin: Option<&str>) -> Result<Option<Caller>> {
        let user = self.with_store(async |store| Ok(store.session_user(&token_hash(token)).await?))?;
        Ok(user.and_then(|user| {
            Role::parse(&user.role).map(|role| Caller { user, role, origin: origin.map(str::to_string) })
        }))
    }

    /// Ends a session.
    pub fn logout(&self, token: &str) -> Result<()> {
        self.with_store(async |store| Ok(store.end_session(&token_hash(token)).await?))
    }

    /// Records in the audit log what a caller did or read.
    pub fn record(&self, by: &Caller, action: &str, customer: Option<i64>, details: &serde_json::Value) -> Result<()> {
        self.with_store(async |store| {
            Ok(store.record(&by.user.email, by.origin.as_deref(), action, customer, &details.to_string()).await?)
        })
    }

    /// The audit log, newest first.
    pub fn audit_log(&self, limit: i64, before: Option<i64>) -> Result<Vec<AuditEntry>> {
        self.with_store(async |store| Ok(store.audit_log(limit.clamp(1, 1000), before).await?))
    }

    /// Every stored campaign with its state.
    pub fn campaigns(&self) -> Result<Vec<CampaignState>> {
        self.with_store(async |store| Ok(store.campaign_states().await?))
    }

    /// Learns from a stored campaign's redemptions (a CSV with a `code` column), found by id.
    pub fn learn_campaign(&self, id: &str, redemptions: Option<&std::path::Path>) -> Result<crate::plan::Learned> {
        let dir = self.with_store(async |store| {
            store.campaign_directory(id).await.map_err(|e| match e.kind() {
                unico_store::ErrorKind::NotFound => Error::new(Code::CampaignNotFound, e.to_string()),
                _ => Error::from(e),
            })
        })?;
        let Some(dir) = dir else {
            bail!(
                Code::NotFound,
                "the campaign {id:?} was planned before its directory was recorded: use `unico learn --campaign DIR`"
            );
        };
        self.learn(&crate::plan::LearnRequest {
            campaign: dir.into(),
            redemptions: redemptions.map(std::path::Path::to_path_buf),
        })
    }

    /// Publishes a planned campaign: its offers reach the app and the tills from its first day.
    pub fn publish_campaign(&self, id: &str, by: &Caller) -> Result<CampaignState> {
        self.campaign_state(id, true, by)
    }

    /// Stops a published campaign: its offers reach no one any more.
    pub fn stop_campaign(&self, id: &str, by: &Caller) -> Result<CampaignState> {
        self.campaign_state(id, false, by)
    }

    fn campaign_state(&self, id: &str, publish: bool, by: &Caller) -> Result<CampaignState> {
        self.with_store(async |store| {
            store.set_campaign_state(id, publish, &by.user.email, by.origin.as_deref()).await.map_err(|e| {
                match e.kind() {
                    unico_store::ErrorKind::NotFound => Error::new(Code::CampaignNotFound, e.to_string()),
                    _ => Error::from(e),
                }
            })
        })
    }

    /// Records a job asked for.
    pub fn insert_job(&self, id: &str, kind: &str, request: &serde_json::Value, by: &Caller) -> Result<()> {
        self.with_store(async |store| Ok(store.insert_job(id, kind, request, &by.user.email).await?))
    }

    /// Marks a job started.
    pub fn start_job(&self, id: &str) -> Result<()> {
        self.with_store(async |store| Ok(store.start_job(id).await?))
    }

    /// Records a job's progress.
    pub fn job_progress(&self, id: &str, step: &str, done: u64, total: u64) -> Result<()> {
        let (done, total) = (i64::try_from(done).unwrap_or(i64::MAX), i64::try_from(total).unwrap_or(i64::MAX));
        self.with_store(async |store| Ok(store.job_progress(id, step, done, total).await?))
    }

    /// Ends a job.
    pub fn finish_job(
        &self,
        id: &str,
        result: std::result::Result<&serde_json::Value, &serde_json::Value>,
    ) -> Result<()> {
        self.with_store(async |store| Ok(store.finish_job(id, result).await?))
    }

    /// Fails the jobs a stopped server left unfinished; returns how many.
    pub fn fail_interrupted_jobs(&self) -> Result<u64> {
        self.with_store(async |store| Ok(store.fail_interrupted_jobs().await?))
    }

    /// A job.
    pub fn job(&self, id: &str) -> Result<Job> {
        self.with_store(async |store| Ok(store.job(id).await?))?
            .ok_or_else(|| Error::new(Code::NotFound, format!("no job {id:?}")))
    }

    /// The latest jobs.
    pub fn jobs(&self, limit: i64) -> Result<Vec<Job>> {
        self.with_store(async |store| Ok(store.jobs(limit.clamp(1, 1000)).await?))
    }
}

pub use unico_store::webhooks::{Delivery, EVENTS, Webhook};

/// A webhook added, with its signing secret (shown once).
#[derive(Debug, Clone, Serialize)]
pub struct AddedWebhook {
    /// The subscription.
    pub webhook: Webhook,
    /// The HMAC-SHA256 key the receiver verifies `X-Unico-Signature` with.
    pub secret: String,
}

impl App {
    /// Subscribes `url` (http or https) to events; returns the signing secret once.
    pub fn add_webhook(&self, url: &str, events: &[String], by: &Caller) -> Result<AddedWebhook> {
        let ok = (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() <= 2048
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            bail!(Code::InputInvalid, "a webhook's url is an http:// or https:// address");
        }
        let (webhook, secret) =
            self.with_store(async |store| Ok(store.add_webhook(url, events, &by.user.email).await?))?;
        Ok(AddedWebhook { webhook, secret })
    }

    /// The live subscriptions.
    pub fn webhooks(&self) -> Result<Vec<Webhook>> {
        self.with_store(async |store| Ok(store.webhooks().await?))
    }

    /// Removes a subscription.
    pub fn remove_webhook(&self, id: i64, by: &Caller) -> Result<()> {
        self.with_store(async |store| {
            store.remove_webhook(id, &by.user.email).await.map_err(|e| match e.kind() {
                unico_store::ErrorKind::NotFound => Error::new(Code::NotFound, e.to_string()),
                _ => Error::from(e),
            })
        })
    }

    /// Webhook messages, newest first (`pending`, `delivered`, `dead`, or all).
    pub fn deliveries(&self, state: Option<&str>, limit: i64) -> Result<Vec<Delivery>> {
        if let Some(s) = state.filter(|s| !["pending", "delivered", "dead"].contains(s)) {
            bail!(Code::InputInvalid, "state is pending, delivered or dead, not {s:?}");
        }
        self.with_store(async |store| Ok(store.deliveries(state, limit.clamp(1, 1000)).await?))
    }

    /// Sends an undelivered message again now.
    pub fn resend(&self, id: i64, by: &Caller) -> Result<Delivery> {
        self.with_store(async |store| {
            store.resend(id, &by.user.email).await.map_err(|e| match e.kind() {
                unico_store::ErrorKind::NotFound => Error::new(Code::NotFound, e.to_string()),
                _ => Error::from(e),
            })
        })
    }

    /// Messages due for delivery, with their subscription's secret.
    pub fn due_deliveries(&self, limit: i64) -> Result<Vec<(Delivery, String)>> {
        self.with_store(async |store| Ok(store.due_deliveries(limit).await?))
    }

    /// Records a delivery attempt: delivered, or failed with when to try again (none: dead).
    pub fn record_attempt(&self, id: i64, outcome: std::result::Result<(), (&str, Option<&str>)>) -> Result<()> {
        self.with_store(async |store| Ok(store.record_attempt(id, outcome).await?))
    }
}
