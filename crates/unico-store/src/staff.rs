//! What the server keeps: the retailer's named users with their role, their sessions, the
//! long jobs, who did what (the audit log's actor and origin), and a campaign's life.
//!
//! Users are staff, not customers: their e-mail is their login name and is kept in clear.
//! Passwords arrive hashed (argon2id, by the server); a session is stored as the SHA-256 of
//! its token, so a copy of the database opens no session.

use crate::{Error, ErrorKind, Store, now};
use serde::{Deserialize, Serialize};

/// A user of the back office.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Login e-mail (lower case).
    pub email: String,
    /// `admin`, `marketing`, `store_manager` or `support`.
    pub role: String,
    /// The store a store manager manages.
    pub store_id: Option<String>,
    /// When the user was added.
    pub created_at: String,
    /// When the user was disabled, if they were.
    pub disabled_at: Option<String>,
}

/// A long job and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Id.
    pub id: String,
    /// `import`, `model_build`, `plan`, …
    pub kind: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// The step under way.
    pub step: String,
    /// Units done in the step.
    pub done: i64,
    /// Units in the step (0: unknown).
    pub total: i64,
    /// The request (JSON).
    pub request: serde_json::Value,
    /// The result, once done (JSON).
    pub result: Option<serde_json::Value>,
    /// The error, once failed (JSON: code and message).
    pub error: Option<serde_json::Value>,
    /// Who asked for it.
    pub created_by: String,
    /// When it was asked for.
    pub created_at: String,
    /// When it started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Id (increasing).
    pub id: i64,
    /// When.
    pub at: String,
    /// Who (a user's e-mail, `cli`, or none for entries from before users).
    pub actor: Option<String>,
    /// From where (the client's address).
    pub origin: Option<String>,
    /// What (`import`, `erase`, `read_customer`, `publish_campaign`, …).
    pub action: String,
    /// The customer concerned, by id.
    pub customer_id: Option<i64>,
    /// Details (JSON, never personal data).
    pub details: String,
}

/// A stored campaign's header and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignState {
    /// Id (name and first day).
    pub id: String,
    /// Name.
    pub name: String,
    /// First day.
    pub valid_from: String,
    /// Last day.
    pub valid_to: String,
    /// `planned`, `published` or `stopped`.
    pub status: String,
    /// Offers stored.
    pub offers: i64,
    /// When planned.
    pub created_at: String,
    /// When published.
    pub published_at: Option<String>,
    /// When stopped.
    pub stopped_at: Option<String>,
}

type UserRow = (i64, String, String, Option<String>, String, Option<String>);
type UserWithHash = (i64, String, String, Option<String>, String, Option<String>, String);

fn user((id, email, role, store_id, created_at, disabled_at): UserRow) -> User {
    User { id, email, role, store_id, created_at, disabled_at }
}

const USER_COLUMNS: &str = "id, email, role, store_id, created_at, disabled_at";

impl Store {
    /// Adds a user; an e-mail already taken is a conflict.
    pub async fn add_user(
        &self,
        email: &str,
        role: &str,
        store_id: Option<&str>,
        password_hash: &str,
        actor: &str,
        origin: Option<&str>,
    ) -> Result<User, Error> {
        let email = email.trim().to_lowercase();
        let mut tx = self.write_tx().await?;
        let taken: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM users WHERE email = $1").bind(&email).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            return Err(Error::new(ErrorKind::Conflict, format!("a user {email} exists already")));
        }
        sqlx::query("INSERT INTO users (email, role, store_id, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&email)
            .bind(role)
            .bind(store_id)
            .bind(password_hash)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        Store::audit_by(
            &mut *tx,
            actor,
            origin,
            "add_user",
            None,
            &serde_json::json!({"email": email, "role": role}).to_string(),
        )
        .await?;
        tx.commit().await?;
        self.user(&email).await?.ok_or_else(|| Error::new(ErrorKind::Internal, "the user just added is missing"))
    }

    /// Every user, by e-mail.
    pub async fn users(&self) -> Result<Vec<User>, Error> {
        let rows: Vec<UserRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users ORDER BY email")))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(user).collect())
    }

    /// The user with this e-mail.
    pub async fn user(&self, email: &str) -> Result<Option<User>, Error> {
        let row: Option<UserRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1")))
                .bind(email.trim().to_lowercase())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(user))
    }

    /// The password hash of an enabled user with this e-mail.
    pub async fn password_hash(&self, email: &str) -> Result<Option<(User, String)>, Error> {
        let row: Option<UserWithHash> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1 AND disabled_at IS NULL"
        )))
        .bind(email.trim().to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(a, b, c, d, e, f, hash)| (user((a, b, c, d, e, f)), hash)))
    }

    /// Disables a user and ends their sessions.
    pub async fn disable_user(&self, email: &str, actor: &str, origin: Option<&str>) -> Result<User, Error> {
        let email = email.trim().to_lowercase();
        let stamp = now();
        let mut tx = self.write_tx().await?;
        let found = sqlx::query("UPDATE users SET disabled_at = $1 WHERE email = $2 AND disabled_at IS NULL")
            .bind(&stamp)
            .bind(&email)
            .execute(&mut *tx)
            .await?;
        if found.rows_affected() == 0 {
            let exists: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM users WHERE email = $1").bind(&email).fetch_optional(&mut *tx).await?;
            if exists.is_none() {
                return Err(Error::new(ErrorKind::NotFound, format!("no user {email}")));
            }
        }
        sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE ended_at IS NULL AND user_id = (SELECT id FROM users WHERE email = $2)",
        )
        .bind(&stamp)
        .bind(&email)
        .execute(&mut *tx)
        .await?;
        Store::audit_by(
            &mut *tx,
            actor,
            origin,
            "disable_user",
            None,
            &serde_json::json!({"email": email}).to_string(),
        )
        .await?;
        tx.commit().await?;
        self.user(&email).await?.ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no user {email}")))
    }

    /// Opens a session (`token_hash`: the SHA-256 of the token, hex) until `expires_at`.
    pub async fn open_session(&self, token_hash: &str, user_id: i64, expires_at: &str) -> Result<(), Error> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user_id)
            .bind(now())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The user of a live session: not ended, not expired, user not disabled.
    pub async fn session_user(&self, token_hash: &str) -> Result<Option<User>, Error> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT u.id, u.email, u.role, u.store_id, u.created_at, u.disabled_at FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(user))
    }

    /// Ends a session.
    pub async fn end_session(&self, token_hash: &str) -> Result<(), Error> {
        sqlx::query("UPDATE sessions SET ended_at = $1 WHERE token_hash = $2 AND ended_at IS NULL")
            .bind(now())
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Appends to the audit log with who did it and from where.
    pub async fn audit_by<'e, E>(
        executor: E,
        actor: &str,
        origin: Option<&str>,
        action: &str,
        customer: Option<i64>,
        details: &str,
    ) -> Result<(), Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query(
            "INSERT INTO audit (at, action, customer_id, details, actor, origin) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now())
        .bind(action)
        .bind(customer)
        .bind(details)
        .bind(actor)
        .bind(origin)
        .execute(executor)
        .await?;
        Ok(())
    }

    /// Records an action in the audit log.
    pub async fn record(
        &self,
        actor: &str,
        origin: Option<&str>,
        action: &str,
        customer: Option<i64>,
        details: &str,
    ) -> Result<(), Error> {
        Store::audit_by(&self.pool, actor, origin, action, customer, details).await
    }

    /// The audit log, newest first, `limit` entries before id `before` (all when none).
    pub async fn audit_log(&self, limit: i64, before: Option<i64>) -> Result<Vec<AuditEntry>, Error> {
        type Row = (i64, String, Option<String>, Option<String>, String, Option<i64>, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, at, actor, origin, action, customer_id, details FROM audit WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, at, actor, origin, action, customer_id, details)| AuditEntry {
                id,
                at,
                actor,
                origin,
                action,
                customer_id,
                details,
            })
            .collect())
    }

    /// Records a new job, queued.
    pub async fn insert_job(&self, id: &str, kind: &str, request: &serde_json::Value, by: &str) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO jobs (id, kind, state, request, created_by, created_at) VALUES ($1, $2, 'queued', $3, $4, $5)",
        )
        .bind(id)
        .bind(kind)
        .bind(request.to_string())
        .bind(by)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a job as running.
    pub async fn start_job(&self, id: &str) -> Result<(), Error> {
        sqlx::query("UPDATE jobs SET state = 'running', started_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a running job's progress.
    pub async fn job_progress(&self, id: &str, step: &str, done: i64, total: i64) -> Result<(), Error> {
        sqlx::query("UPDATE jobs SET step = $1, done = $2, total = $3 WHERE id = $4 AND state = 'running'")
            .bind(step)
            .bind(done)
            .bind(total)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a job with its result or its error.
    pub async fn finish_job(
        &self,
        id: &str,
        result: Result<&serde_json::Value, &serde_json::Value>,
    ) -> Result<(), Error> {
        let (state, result, error) = match result {
            Ok(r) => ("done", Some(r.to_string()), None),
            Err(e) => ("failed", None, Some(e.to_string())),
        };
        sqlx::query("UPDATE jobs SET state = $1, result = $2, error = $3, finished_at = $4 WHERE id = $5")
            .bind(state)
            .bind(result)
            .bind(error)
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Jobs a stopped server left queued or running: failed, saying so. Returns how many.
    pub async fn fail_interrupted_jobs(&self) -> Result<u64, Error> {
        let error = serde_json::json!({
            "code": "job.interrupted",
            "message": "the server stopped before the job ended; nothing of it was published, run it again",
        });
        let done = sqlx::query(
            "UPDATE jobs SET state = 'failed', error = $1, finished_at = $2 WHERE state IN ('queued', 'running')",
        )
        .bind(error.to_string())
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// A job by id.
    pub async fn job(&self, id: &str) -> Result<Option<Job>, Error> {
        Ok(self.jobs_where("WHERE id = $1", Some(id), 1).await?.pop())
    }

    /// The latest jobs, newest first.
    pub async fn jobs(&self, limit: i64) -> Result<Vec<Job>, Error> {
        self.jobs_where("", None, limit).await
    }

    async fn jobs_where(&self, filter: &str, id: Option<&str>, limit: i64) -> Result<Vec<Job>, Error> {
        use sqlx::Row;
        let sql = format!(
            "SELECT id, kind, state, step, done, total, request, result, error, created_by, created_at, started_at, \
             finished_at FROM jobs {filter} ORDER BY created_at DESC, id DESC LIMIT {limit}"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(id) = id {
            q = q.bind(id.to_string());
        }
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Job {
                    id: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    state: r.try_get(2)?,
                    step: r.try_get(3)?,
                    done: r.try_get(4)?,
                    total: r.try_get(5)?,
                    request: json(r.try_get(6)?).unwrap_or_default(),
                    result: json(r.try_get(7)?),
                    error: json(r.try_get(8)?),
                    created_by: r.try_get(9)?,
                    created_at: r.try_get(10)?,
                    started_at: r.try_get(11)?,
                    finished_at: r.try_get(12)?,
                })
            })
            .collect()
    }

    /// Every stored campaign, newest first, with its state and number of offers.
    pub async fn campaign_states(&self) -> Result<Vec<CampaignState>, Error> {
        type Row = (String, String, String, String, String, i64, String, Option<String>, Option<String>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT c.id, c.name, c.valid_from, c.valid_to, c.status, \
             (SELECT COUNT(*) FROM offers o WHERE o.campaign_id = c.id), c.created_at, c.published_at, c.stopped_at \
             FROM campaigns c ORDER BY c.valid_from DESC, c.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, valid_from, valid_to, status, offers, created_at, published_at, stopped_at)| {
                CampaignState { id, name, valid_from, valid_to, status, offers, created_at, published_at, stopped_at }
            })
            .collect())
    }

    /// Publishes a planned campaign (its offers reach the app and the tills from their first
    /// day) or stops a published one. Publishing a published campaign, or stopping a
    /// stopped one, changes nothing; a stopped campaign is never published again.
    pub async fn set_campaign_state(
        &self,
        id: &str,
        publish: bool,
        actor: &str,
        origin: Option<&str>,
    ) -> Result<CampaignState, Error> {
        let mut tx = self.write_tx().await?;
        let status: Option<(String,)> =
            sqlx::query_as("SELECT status FROM campaigns WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
        let Some((status,)) = status else {
            return Err(Error::new(ErrorKind::NotFound, format!("no campaign {id:?}")));
        };
        let (to, column) = if publish { ("published", "published_at") } else { ("stopped", "stopped_at") };
        if publish && status == "stopped" {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("the campaign {id:?} was stopped; plan a new one to offer again"),
            ));
        }
        if !publish && status == "planned" {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("the campaign {id:?} was never published; there is nothing to stop"),
            ));
        }
        if status != to {
            sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE campaigns SET status = $1, {column} = $2 WHERE id = $3")))
                .bind(to)
                .bind(now())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let action = if publish { "publish_campaign" } else { "stop_campaign" };
            Store::audit_by(&mut *tx, actor, origin, action, None, &serde_json::json!({"campaign": id}).to_string())
                .await?;
            if publish {
                Store::emit(&mut tx, "campaign.published", &serde_json::json!({"campaign": id})).await?;
            }
            Store::pos_changed(&mut *tx, "all", None).await?;
        }
        tx.commit().await?;
        self.campaign_states()
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Error::new(ErrorKind::Internal, "the campaign vanished"))
    }
}
