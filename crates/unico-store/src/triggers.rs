//! What the triggered offers ask of the store: who is at a moment (a birthday, a card's
//! anniversary or first weeks, P(alive) falling, a staple overdue, an unhappy ticket, a first
//! online order), who agreed to marketing, and what a trigger already issued (its cool-down
//! and its month's budget). The offers themselves are stored as campaigns
//! ([`Store::store_campaign`]), one per trigger and day.

use crate::privacy::CURRENT_CONSENT;
use crate::{Error, Store};
use std::collections::{HashMap, HashSet};

/// A customer a trigger may reach: id and the lake key of their first card.
pub type Reachable = (i64, String);

impl Store {
    /// Customers holding a card whose marketing consent is given now, with their first card's
    /// lake key.
    pub async fn marketing_customers(&self) -> Result<Vec<Reachable>, Error> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT k.customer_id, MIN(k.customer_key) FROM cards k WHERE EXISTS (SELECT 1 FROM consents c \
             WHERE c.customer_id = k.customer_id AND c.purpose = 'marketing' AND c.granted = 1 AND {CURRENT_CONSENT}) \
             GROUP BY k.customer_id ORDER BY k.customer_id"
        )))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Customers holding a card whose consent to `purpose` is given now.
    pub async fn consenting_customers(&self, purpose: &str) -> Result<Vec<i64>, Error> {
        let rows: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT k.customer_id FROM cards k WHERE EXISTS (SELECT 1 FROM consents c \
             WHERE c.customer_id = k.customer_id AND c.purpose = $1 AND c.granted = 1 AND {CURRENT_CONSENT}) \
             ORDER BY k.customer_id"
        )))
        .bind(purpose)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// A customer's birth date and registration day (ISO), from their sealed personal data.
    pub async fn birth_and_registration(&self, customer: i64) -> Result<(Option<String>, Option<String>), Error> {
        Ok(match self.pii_of(customer).await? {
            Some(p) => (p.birth_date, p.registered_at),
            None => (None, None),
        })
    }

    /// Lake keys whose published profile's P(alive) is below `threshold`.
    pub async fn keys_p_alive_below(&self, threshold: f64) -> Result<HashSet<String>, Error> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT customer_key FROM profiles WHERE p_alive < $1")
            .bind(threshold)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Lake keys with a staple (a due product) due before `day`.
    pub async fn keys_overdue_before(&self, day: &str) -> Result<HashSet<String>, Error> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT customer_key FROM due_items WHERE next_due_date < $1")
                .bind(day)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Lake keys of customers who rated a ticket's handling 1 or 2 (CSAT) on `day`.
    pub async fn keys_unhappy_on(&self, day: &str) -> Result<HashSet<String>, Error> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT customer_key FROM survey_answers WHERE answered_on = $1 AND question = 'csat' \
             AND score <= 2 AND id LIKE 'app-ticket-%' AND customer_key IS NOT NULL",
        )
        .bind(day)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Customers whose first collected click-and-collect order was collected in
    /// `[from, to)` (UTC stamps).
    pub async fn first_orders_between(&self, from: &str, to: &str) -> Result<HashSet<i64>, Error> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT customer_id FROM orders WHERE state = 'collected' GROUP BY customer_id \
             HAVING MIN(collected_at) >= $1 AND MIN(collected_at) < $2",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Lake keys a trigger (its campaigns are named `name`) reached — offered or held out —
    /// in campaigns starting on or after `since`.
    pub async fn trigger_reached_since(&self, name: &str, since: &str) -> Result<HashSet<String>, Error> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT m.customer_key FROM campaign_members m JOIN campaigns c ON c.id = m.campaign_id \
             WHERE c.name = $1 AND c.valid_from >= $2",
        )
        .bind(name)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// What a trigger's offers could cost (each redeemed) in campaigns starting in
    /// `[from, to]`, cents.
    pub async fn trigger_committed(&self, name: &str, from: &str, to: &str) -> Result<i64, Error> {
        let row: (Option<i64>,) = sqlx::query_as(
            "SELECT SUM(o.discount_cents) FROM offers o JOIN campaigns c ON c.id = o.campaign_id \
             WHERE c.name = $1 AND c.valid_from >= $2 AND c.valid_from <= $3",
        )
        .bind(name)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.0.unwrap_or(0))
    }

    /// Customer id → their first card's lake key, for these lake keys' customers.
    pub async fn customers_of_keys(&self, keys: &HashSet<String>) -> Result<HashMap<String, i64>, Error> {
        let mut out = HashMap::new();
        for k in keys {
            let row: Option<(i64,)> = sqlx::query_as("SELECT customer_id FROM cards WHERE customer_key = $1")
                .bind(k)
                .fetch_optional(&self.pool)
                .await?;
            if let Some((c,)) = row {
                out.insert(k.clone(), c);
            }
        }
        Ok(out)
    }
}
