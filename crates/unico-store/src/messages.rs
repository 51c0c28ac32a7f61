//! Messages to customers through the outbox: marketing messages queued with their purpose
//! (for the frequency cap and the consent re-checked at sending), the e-mails waiting to be
//! sent, and their outcome. Recipients are `customer:#id`: the contact is opened when the
//! message is sent, so the outbox holds none.

use crate::{Error, Pii, Store, now};

/// An e-mail waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingMail {
    /// Its number.
    pub id: i64,
    /// `customer:#id`, or an address for a staff member's message.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Body, with `{first_name}` still to fill in.
    pub body: String,
    /// `marketing` or `service`.
    pub purpose: String,
    /// Attempts so far.
    pub attempts: i64,
}

impl Store {
    /// Queues a marketing message for a customer on `kind` (`email`, `sms`).
    pub async fn queue_marketing(&self, kind: &str, customer: i64, subject: &str, body: &str) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO outbox (created_at, kind, recipient, subject, body, purpose) VALUES ($1, $2, $3, $4, $5, 'marketing')",
        )
        .bind(now())
        .bind(kind)
        .bind(format!("customer:#{customer}"))
        .bind(subject)
        .bind(body)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marketing messages queued for a customer since `since` (UTC stamp), any channel.
    pub async fn marketing_since(&self, customer: i64, since: &str) -> Result<i64, Error> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND purpose = 'marketing' AND created_at >= $2",
        )
        .bind(format!("customer:#{customer}"))
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// E-mails waiting to be sent, oldest first.
    pub async fn pending_mail(&self, limit: i64) -> Result<Vec<PendingMail>, Error> {
        self.pending_of("email", limit).await
    }

    /// Messages of `kind` waiting to be sent, oldest first.
    async fn pending_of(&self, kind: &str, limit: i64) -> Result<Vec<PendingMail>, Error> {
        let rows: Vec<(i64, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, recipient, subject, body, purpose, attempts FROM outbox \
             WHERE kind = $1 AND sent_at IS NULL AND state = 'pending' ORDER BY id LIMIT $2",
        )
        .bind(kind)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, recipient, subject, body, purpose, attempts)| PendingMail {
                id,
                recipient,
                subject,
                body,
                purpose,
                attempts,
            })
            .collect())
    }

    /// Records a message's outcome: sent; or given up (`dead`, with why); or to try again.
    pub async fn mail_outcome(&self, id: i64, outcome: Result<(), (bool, &str)>) -> Result<(), Error> {
        let q = match outcome {
            Ok(()) => sqlx::query("UPDATE outbox SET sent_at = $1, state = 'sent' WHERE id = $2").bind(now()).bind(id),
            Err((true, why)) => {
                sqlx::query("UPDATE outbox SET state = 'dead', last_error = $1, attempts = attempts + 1 WHERE id = $2")
                    .bind(why.to_string())
                    .bind(id)
            }
            Err((false, why)) => {
                sqlx::query("UPDATE outbox SET last_error = $1, attempts = attempts + 1 WHERE id = $2")
                    .bind(why.to_string())
                    .bind(id)
            }
        };
        q.execute(&self.pool).await?;
        Ok(())
    }

    /// A customer's personal data, opened (their surviving registration's; none once erased).
    pub async fn personal_data(&self, customer: i64) -> Result<Option<Pii>, Error> {
        self.pii_of(customer).await
    }
}

impl Store {
    /// SMS waiting to be sent, oldest first.
    pub async fn pending_sms(&self, limit: i64) -> Result<Vec<PendingMail>, Error> {
        self.pending_of("sms", limit).await
    }
}
