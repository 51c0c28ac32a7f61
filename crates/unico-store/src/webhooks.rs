//! Webhooks: the retailer's systems subscribe to events; [`Store::emit`] writes one outbox
//! message per subscription inside the transaction of the change it announces, so an
//! event is sent if and only if the change happened. The server delivers due messages,
//! signed, retrying with exponential backoff and dead-lettering after a limit.
//!
//! Payloads name customers by id, never by card, name or e-mail.

use crate::{Error, ErrorKind, Store, now};
use serde::{Deserialize, Serialize};

/// The events a webhook may subscribe to.
pub const EVENTS: [&str; 5] =
    ["redemption", "consent.changed", "goal.changed", "campaign.published", "customer.erased"];

/// A subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// Id.
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    /// The events subscribed to.
    pub events: Vec<String>,
    /// Who added it.
    pub created_by: String,
    /// When.
    pub created_at: String,
}

/// A message to deliver, or delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Id (also sent as `X-Unico-Delivery`, for the receiver to drop repeats).
    pub id: i64,
    /// The subscription.
    pub webhook_id: i64,
    /// Where it goes.
    pub url: String,
    /// The event.
    pub event: String,
    /// The JSON body.
    pub body: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due.
    pub next_attempt_at: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When the event happened.
    pub created_at: String,
    /// When it was delivered.
    pub delivered_at: Option<String>,
}

const DELIVERY: &str = "SELECT o.id, o.webhook_id, o.recipient, o.subject, o.body, o.state, o.attempts, o.next_attempt_at, \
     o.last_error, o.created_at, o.sent_at FROM outbox o WHERE o.kind = 'webhook'";

type DeliveryRow =
    (i64, i64, String, String, String, String, i64, Option<String>, Option<String>, String, Option<String>);

fn delivery(r: DeliveryRow) -> Delivery {
    let (id, webhook_id, url, event, body, state, attempts, next_attempt_at, last_error, created_at, delivered_at) = r;
    Delivery {
        id,
        webhook_id,
        url,
        event,
        body,
        state,
        attempts,
        next_attempt_at,
        last_error,
        created_at,
        delivered_at,
    }
}

impl Store {
    /// Writes `event` with `payload` to the outbox for every subscription to it, in the
    /// caller's transaction.
    pub async fn emit(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        event: &str,
        payload: &serde_json::Value,
    ) -> Result<(), Error> {
        let hooks: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT id, url, events FROM webhooks WHERE removed_at IS NULL")
                .fetch_all(&mut **tx)
                .await?;
        let stamp = now();
        let body = serde_json::json!({"event": event, "at": stamp, "data": payload}).to_string();
        for (id, url, events) in hooks {
            if !events.split(',').any(|e| e == event) {
                continue;
            }
            sqlx::query(
                "INSERT INTO outbox (created_at, kind, recipient, subject, body, webhook_id, state, attempts, next_attempt_at) \
                 VALUES ($1, 'webhook', $2, $3, $4, $5, 'pending', 0, $1)",
            )
            .bind(&stamp)
            .bind(&url)
            .bind(event)
            .bind(&body)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Adds a subscription; returns it with its signing secret (hex), which the store keeps
    /// only wrapped by the master key.
    pub async fn add_webhook(&self, url: &str, events: &[String], by: &str) -> Result<(Webhook, String), Error> {
        for e in events {
            if !EVENTS.contains(&e.as_str()) {
                return Err(Error::new(
                    ErrorKind::Input,
                    format!("unknown event {e:?}; events are {}", EVENTS.join(", ")),
                ));
            }
        }
        if events.is_empty() {
            return Err(Error::new(ErrorKind::Input, "a webhook subscribes to at least one event"));
        }
        let token = hex::encode(rand::random::<[u8; 16]>());
        let (key, wrapped) = self.key.new_data_key(&format!("webhook:{token}"));
        let secret = key.to_hex();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO webhooks (url, events, token, secret, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(url)
        .bind(events.join(","))
        .bind(&token)
        .bind(wrapped)
        .bind(by)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let (id,): (i64,) = sqlx::query_as("SELECT MAX(id) FROM webhooks").fetch_one(&mut *tx).await?;
        Store::audit_by(
            &mut *tx,
            by,
            None,
            "add_webhook",
            None,
            &serde_json::json!({"id": id, "url": url}).to_string(),
        )
        .await?;
        tx.commit().await?;
        let hook = self
            .webhooks()
            .await?
            .into_iter()
            .find(|w| w.id == id)
            .ok_or_else(|| Error::new(ErrorKind::Internal, "lost"))?;
        Ok((hook, secret))
    }

    /// The live subscriptions.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>, Error> {
        let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
            "SELECT id, url, events, created_by, created_at FROM webhooks WHERE removed_at IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, url, events, created_by, created_at)| Webhook {
                id,
                url,
                events: events.split(',').map(str::to_string).collect(),
                created_by,
                created_at,
            })
            .collect())
    }

    /// Removes a subscription; its pending messages are not sent.
    pub async fn remove_webhook(&self, id: i64, by: &str) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE webhooks SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::new(ErrorKind::NotFound, format!("no webhook {id}")));
        }
        sqlx::query("UPDATE outbox SET state = 'dead', last_error = 'the webhook was removed' WHERE webhook_id = $1 AND state = 'pending'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Store::audit_by(&mut *tx, by, None, "remove_webhook", None, &serde_json::json!({"id": id}).to_string()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Messages due now, with their subscription's secret, oldest first.
    pub async fn due_deliveries(&self, limit: i64) -> Result<Vec<(Delivery, String)>, Error> {
        let sql = format!(
            "SELECT o.id, o.webhook_id, o.recipient, o.subject, o.body, o.state, o.attempts, o.next_attempt_at, \
             o.last_error, o.created_at, o.sent_at, w.token, w.secret FROM outbox o JOIN webhooks w ON w.id = o.webhook_id \
             WHERE o.kind = 'webhook' AND o.state = 'pending' AND o.next_attempt_at <= $1 ORDER BY o.id LIMIT {limit}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now()).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                use sqlx::Row;
                let d = delivery((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                    r.try_get(6)?,
                    r.try_get(7)?,
                    r.try_get(8)?,
                    r.try_get(9)?,
                    r.try_get(10)?,
                ));
                let (token, wrapped): (String, Vec<u8>) = (r.try_get(11)?, r.try_get(12)?);
                let secret = self.key.unwrap(&format!("webhook:{token}"), &wrapped)?.to_hex();
                Ok((d, secret))
            })
            .collect()
    }

    /// Records an attempt: delivered, or failed with the next attempt's time (none: dead).
    pub async fn record_attempt(&self, id: i64, outcome: Result<(), (&str, Option<&str>)>) -> Result<(), Error> {
        let stamp = now();
        let q = match outcome {
            Ok(()) => sqlx::query(
                "UPDATE outbox SET state = 'delivered', sent_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2",
            )
            .bind(stamp)
            .bind(id),
            Err((error, Some(next))) => {
                sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3")
                    .bind(error.to_string())
                    .bind(next.to_string())
                    .bind(id)
            }
            Err((error, None)) => sqlx::query(
                "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $1, next_attempt_at = NULL WHERE id = $2",
            )
            .bind(error.to_string())
            .bind(id),
        };
        q.execute(&self.pool).await?;
        Ok(())
    }

    /// Deliveries, newest first, in one state or all.
    pub async fn deliveries(&self, state: Option<&str>, limit: i64) -> Result<Vec<Delivery>, Error> {
        let sql = match state {
            Some(_) => format!("{DELIVERY} AND o.state = $1 ORDER BY o.id DESC LIMIT {limit}"),
            None => format!("{DELIVERY} ORDER BY o.id DESC LIMIT {limit}"),
        };
        let mut q = sqlx::query_as::<_, DeliveryRow>(sqlx::AssertSqlSafe(sql));
        if let Some(s) = state {
            q = q.bind(s.to_string());
        }
        Ok(q.fetch_all(&self.pool).await?.into_iter().map(delivery).collect())
    }

    /// Sends a dead (or pending) delivery again, now, with a fresh count of attempts.
    pub async fn resend(&self, id: i64, by: &str) -> Result<Delivery, Error> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $1 WHERE id = $2 AND kind = 'webhook' \
             AND state <> 'delivered'",
        )
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::new(ErrorKind::NotFound, format!("no undelivered webhook message {id}")));
        }
        Store::audit_by(&mut *tx, by, None, "resend_webhook", None, &serde_json::json!({"delivery": id}).to_string())
            .await?;
        tx.commit().await?;
        let sql = format!("{DELIVERY} AND o.id = $1");
        let row: DeliveryRow = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(&self.pool).await?;
        Ok(delivery(row))
    }
}
