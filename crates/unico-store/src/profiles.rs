//! The behavioural profile of each cardholder, as the server reads it: segment, P(alive),
//! expected purchases, value, habits of place and time, and the products they are due to
//! buy again.
//!
//! `unico model build` publishes them here after writing the lake-side Parquet. Only keys
//! with a card in the customer master are published (an erased customer's key no longer
//! has one, so a later build never brings their profile back), the whole set is replaced
//! in one transaction (a reader sees the previous build or the new one), and erasing a
//! customer deletes their rows with their cards.

use crate::{Error, Store};
use serde::{Deserialize, Serialize};

/// One cardholder's profile (one per lake key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Pseudonymous lake key (one per card).
    pub customer_key: String,
    /// Last day of data of the build (chain's calendar).
    pub as_of: String,
    /// RFM segment name.
    pub segment: String,
    /// RFM recency score (1..bins).
    pub r_score: i64,
    /// RFM frequency score.
    pub f_score: i64,
    /// RFM monetary score.
    pub m_score: i64,
    /// Probability the customer is still active.
    pub p_alive: f64,
    /// Expected purchase days in the next `horizon_days`.
    pub expected_purchases: f64,
    /// Horizon of `expected_purchases`, days.
    pub horizon_days: i64,
    /// Discounted lifetime value, cents.
    pub clv_cents: i64,
    /// Average receipt, cents.
    pub average_receipt_cents: i64,
    /// Share of gross spend given as discounts (0–1).
    pub discount_share: f64,
    /// Store with the most receipts.
    pub preferred_store_id: Option<String>,
    /// Channel with the most receipts.
    pub preferred_channel: String,
    /// Weekday with the most receipts (monday…sunday).
    pub preferred_weekday: String,
    /// Hour of the day with the most receipts (0–23, chain's time zone).
    pub preferred_hour: i64,
    /// Last purchase date.
    pub last_purchase_date: String,
}

/// A product a cardholder buys on a cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DueItem {
    /// Pseudonymous lake key.
    pub customer_key: String,
    /// The product.
    pub sku: String,
    /// Its category.
    pub category: String,
    /// Days it was bought on.
    pub purchase_days: i64,
    /// Estimated cycle, days.
    pub cycle_days: f64,
    /// Next due date (chain's calendar).
    pub next_due_date: String,
}

/// What a publication did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Published {
    /// Profiles written.
    pub profiles: u64,
    /// Due items written.
    pub due_items: u64,
    /// Profiles left out: their key has no card in the customer master.
    pub without_card: u64,
}

const PROFILE_COLUMNS: &str = "customer_key, as_of, segment, r_score, f_score, m_score, p_alive, expected_purchases, \
     horizon_days, clv_cents, average_receipt_cents, discount_share, preferred_store_id, preferred_channel, \
     preferred_weekday, preferred_hour, last_purchase_date";

impl Store {
    /// The values of a multi-row insert: `(?,?),(?,?)` on SQLite, `($1,$2),($3,$4)` on
    /// PostgreSQL. SQLite finds a numbered parameter by name, scanning the statement's
    /// list each time: a statement of 6,000 `$n` spent 93% of its time there (publishing
    /// 25M due items took most of 39 minutes); anonymous `?` are bound by position.
    pub(crate) fn placeholders(&self, rows: usize, columns: usize) -> String {
        let mut s = String::with_capacity(rows * (columns * 6 + 3));
        for r in 0..rows {
            if r > 0 {
                s.push(',');
            }
            s.push('(');
            for c in 0..columns {
                if c > 0 {
                    s.push(',');
                }
                match self.backend {
                    crate::Backend::Sqlite => s.push('?'),
                    crate::Backend::Postgres => {
                        use std::fmt::Write;
                        let _ = write!(s, "${}", r * columns + c + 1);
                    }
                }
            }
            s.push(')');
        }
        s
    }
}

const DUE_COLUMNS: &str = "customer_key, sku, category, purchase_days, cycle_days, next_due_date";

/// A new set of profiles and due items on its way into the store: rows are staged as they
/// come (in tables without an index, in any order), then [`Publication::commit`] replaces
/// the published set with the staged rows of keys that have a card, in key order, in one
/// transaction. Inserting a model's rows as they come, in the random order of their keys,
/// touched a random page of each primary-key index per row: 1.83M profiles and 25M due
/// items took 39 minutes; sorted inserts append (docs/benchmarks.md). Memory is one batch,
/// whatever the number of rows. Dropped without `commit` (or after [`Publication::abort`]),
/// nothing changes.
pub struct Publication<'s> {
    store: &'s Store,
    tx: sqlx::Transaction<'static, sqlx::Any>,
    profiles: u64,
}

impl Store {
    /// Begins a [`Publication`].
    pub async fn begin_publication(&self) -> Result<Publication<'_>, Error> {
        let mut tx = self.write_tx().await?;
        self.bulk_cache(&mut tx, true).await?;
        // Temporary tables of the published columns, without their keys (dropped before
        // the commit; a rollback takes them away too).
        for (stage, table) in [("profile_stage", "profiles"), ("due_stage", "due_items")] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE TEMPORARY TABLE {stage} AS SELECT * FROM {table} WHERE 1 = 0"
            )))
            .execute(&mut *tx)
            .await?;
        }
        Ok(Publication { store: self, tx, profiles: 0 })
    }

    /// Replaces every published profile and due item with these, in one transaction,
    /// keeping only keys that have a card.
    pub async fn publish_profiles(&self, profiles: &[Profile], due: &[DueItem]) -> Result<Published, Error> {
        let mut publication = self.begin_publication().await?;
        publication.add_profiles(profiles).await?;
        publication.add_due_items(due).await?;
        publication.commit().await
    }

    /// The published profile of the customer a reference names (card, e-mail, phone or
    /// `#id`), one per card of theirs, most recent purchase first.
    pub async fn profiles_of(&self, reference: &str) -> Result<Vec<Profile>, Error> {
        let id = self.resolve(reference).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE customer_key IN \
             (SELECT customer_key FROM cards WHERE customer_id = $1) ORDER BY last_purchase_date DESC, customer_key"
        )))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(profile_of_row).collect()
    }

    /// The products the customer a reference names is due to buy, soonest first.
    pub async fn due_items_of(&self, reference: &str) -> Result<Vec<DueItem>, Error> {
        let id = self.resolve(reference).await?;
        let rows: Vec<(String, String, String, i64, f64, String)> = sqlx::query_as(
            "SELECT customer_key, sku, category, purchase_days, cycle_days, next_due_date FROM due_items \
             WHERE customer_key IN (SELECT customer_key FROM cards WHERE customer_id = $1) ORDER BY next_due_date, sku",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(customer_key, sku, category, purchase_days, cycle_days, next_due_date)| DueItem {
                customer_key,
                sku,
                category,
                purchase_days,
                cycle_days,
                next_due_date,
            })
            .collect())
    }
}

fn profile_of_row(r: &sqlx::any::AnyRow) -> Result<Profile, Error> {
    use sqlx::Row;
    Ok(Profile {
        customer_key: r.try_get(0)?,
        as_of: r.try_get(1)?,
        segment: r.try_get(2)?,
        r_score: r.try_get(3)?,
        f_score: r.try_get(4)?,
        m_score: r.try_get(5)?,
        p_alive: r.try_get(6)?,
        expected_purchases: r.try_get(7)?,
        horizon_days: r.try_get(8)?,
        clv_cents: r.try_get(9)?,
        average_receipt_cents: r.try_get(10)?,
        discount_share: r.try_get(11)?,
        preferred_store_id: r.try_get(12)?,
        preferred_channel: r.try_get(13)?,
        preferred_weekday: r.try_get(14)?,
        preferred_hour: r.try_get(15)?,
        last_purchase_date: r.try_get(16)?,
    })
}

impl Publication<'_> {
    /// Stages profiles.
    pub async fn add_profiles(&mut self, profiles: &[Profile]) -> Result<(), Error> {
        for chunk in profiles.chunks(500) {
            let sql = format!(
                "INSERT INTO profile_stage ({PROFILE_COLUMNS}) VALUES {}",
                self.store.placeholders(chunk.len(), 17)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for p in chunk {
                q = q
                    .bind(&p.customer_key)
                    .bind(&p.as_of)
                    .bind(&p.segment)
                    .bind(p.r_score)
                    .bind(p.f_score)
                    .bind(p.m_score)
                    .bind(p.p_alive)
                    .bind(p.expected_purchases)
                    .bind(p.horizon_days)
                    .bind(p.clv_cents)
                    .bind(p.average_receipt_cents)
                    .bind(p.discount_share)
                    .bind(p.preferred_store_id.clone())
                    .bind(&p.preferred_channel)
                    .bind(&p.preferred_weekday)
                    .bind(p.preferred_hour)
                    .bind(&p.last_purchase_date);
            }
            q.execute(&mut *self.tx).await?;
        }
        self.profiles += profiles.len() as u64;
        Ok(())
    }

    /// Stages due items.
    pub async fn add_due_items(&mut self, due: &[DueItem]) -> Result<(), Error> {
        for chunk in due.chunks(1000) {
            let sql =
                format!("INSERT INTO due_stage ({DUE_COLUMNS}) VALUES {}", self.store.placeholders(chunk.len(), 6));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for d in chunk {
                q = q
                    .bind(&d.customer_key)
                    .bind(&d.sku)
                    .bind(&d.category)
                    .bind(d.purchase_days)
                    .bind(d.cycle_days)
                    .bind(&d.next_due_date);
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Replaces the published profiles and due items with the staged ones of keys that
    /// have a card, in key order, and commits.
    pub async fn commit(mut self) -> Result<Published, Error> {
        let tx = &mut self.tx;
        sqlx::query("DELETE FROM profiles").execute(&mut **tx).await?;
        sqlx::query("DELETE FROM due_items").execute(&mut **tx).await?;
        let carded = "customer_key IN (SELECT customer_key FROM cards)";
        let profiles = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO profiles ({PROFILE_COLUMNS}) SELECT {PROFILE_COLUMNS} FROM profile_stage WHERE {carded} \
             ORDER BY customer_key"
        )))
        .execute(&mut **tx)
        .await?
        .rows_affected();
        let due_items = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO due_items ({DUE_COLUMNS}) SELECT {DUE_COLUMNS} FROM due_stage WHERE {carded} \
             ORDER BY customer_key, sku"
        )))
        .execute(&mut **tx)
        .await?
        .rows_affected();
        for stage in ["profile_stage", "due_stage"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {stage}"))).execute(&mut **tx).await?;
        }
        let out = Published { profiles, due_items, without_card: self.profiles - profiles };
        Store::audit(
            &mut **tx,
            "publish_profiles",
            None,
            &format!("{{\"profiles\":{},\"due_items\":{}}}", out.profiles, out.due_items),
        )
        .await?;
        self.store.bulk_cache(tx, false).await?;
        self.tx.commit().await?;
        self.store.analyze().await?;
        Ok(out)
    }

    /// Leaves the published set as it was.
    pub async fn abort(mut self) -> Result<(), Error> {
        self.store.bulk_cache(&mut self.tx, false).await?;
        self.tx.rollback().await?;
        Ok(())
    }
}
