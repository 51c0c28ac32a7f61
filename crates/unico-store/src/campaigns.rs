//! Campaigns in the operational store: the offers the app shows and the tills redeem, and
//! every eligible customer's arm (treated or held out), which uplift is measured against.
//!
//! `unico plan` stores a campaign whole in one transaction, once (a campaign is its name and
//! first day); erasing a customer deletes their offers and memberships.

use crate::{Error, ErrorKind, Store, now};
use serde::{Deserialize, Serialize};

/// A campaign's header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Name and first day, e.g. `January fortnight 2026-01-05`.
    pub id: String,
    /// The policy's name.
    pub name: String,
    /// First day of validity.
    pub valid_from: String,
    /// Last day, inclusive.
    pub valid_to: String,
    /// Seed of the holdout and sampling.
    pub seed: i64,
    /// The policy file as it was planned with.
    pub policy: String,
    /// The plan's summary (JSON).
    pub summary: String,
    /// Where the campaign's files were written (absolute), so an erasure reaches them.
    #[serde(default)]
    pub directory: Option<String>,
    /// Its offers apply at a till only once the shopper activated them in the app.
    #[serde(default)]
    pub activation_required: bool,
    /// Stores its offers are valid in (all when empty).
    #[serde(default)]
    pub stores: Vec<String>,
    /// The margin its policy keeps after a discount (share of the discounted price): the
    /// tills never discount below it.
    #[serde(default)]
    pub min_margin: Option<f64>,
    /// Its budgets as the policy caps them: `("total", cents)`, `("category:Coffee", cents)`.
    #[serde(default)]
    pub budgets: Vec<(String, i64)>,
}

/// An [`OfferRecord`] as the query reads it.
type OfferRecordRow = (String, String, String, String, i64, i64, String, String, Option<String>);

/// An offer made to a customer, with its redemption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferRecord {
    /// The campaign.
    pub campaign_id: String,
    /// The offer's code.
    pub code: String,
    /// The product (or category) it is on.
    pub sku: String,
    /// Why it was made (due, win-back…).
    pub kind: String,
    /// Percent off (0 for other mechanics).
    pub percent_off: i64,
    /// The discount if redeemed, cents.
    pub discount_cents: i64,
    /// First day.
    pub valid_from: String,
    /// Last day.
    pub valid_to: String,
    /// When it was redeemed (UTC), if it was.
    pub redeemed_at: Option<String>,
}

/// One stored offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredOffer {
    /// Unique code.
    pub code: String,
    /// The customer's lake key.
    pub customer_key: String,
    /// Rank among their offers.
    pub rank: i64,
    /// Product (empty for a category or basket offer).
    pub sku: String,
    /// `product`, `category` (one item of it) or `basket` (a spend reward).
    pub target: String,
    /// The category of a category offer.
    pub category: Option<String>,
    /// `unit` (off one unit), `multi_buy` or `spend_reward`.
    pub mechanic: String,
    /// Units to buy (a multi-buy; 1 otherwise).
    pub buy_units: i64,
    /// Units paid (a multi-buy; 1 otherwise).
    pub pay_units: i64,
    /// Least basket for a spend reward, cents (0 otherwise).
    pub min_spend_cents: i64,
    /// Why it was a candidate (due, usual, cross_sell, win_back, trial).
    pub kind: String,
    /// Percent off (0 for an amount).
    pub percent_off: i64,
    /// Discount when redeemed, cents (one unit, a multi-buy's free units or the reward).
    pub discount_cents: i64,
    /// First day.
    pub valid_from: String,
    /// Last day.
    pub valid_to: String,
    /// Probability of redemption.
    pub p_redeem: f64,
    /// Expected cost, cents.
    pub expected_cost_cents: i64,
    /// Expected incremental margin, cents.
    pub expected_incremental_margin_cents: i64,
    /// Personal (else non-personal).
    pub personal: bool,
    /// Plain-words reason.
    pub reason: String,
    /// `p0` at planning time (for learning).
    pub p0: f64,
    /// Affinity at planning time.
    pub affinity: f64,
    /// Sensitivity band at planning time.
    pub band: i64,
    /// The budgets of its campaign it counts against, one name per line (`total`,
    /// `category:Coffee`).
    #[serde(default)]
    pub budgets: String,
    /// Most times a multi-buy applies on one receipt (1 otherwise).
    #[serde(default = "one")]
    pub max_times: i64,
}

fn one() -> i64 {
    1
}

/// A customer's arm in a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The customer's lake key.
    pub customer_key: String,
    /// `personal`, `generic`, `holdout` or `no_offer`.
    pub status: String,
    /// Their RFM segment at planning time.
    pub segment: String,
    /// Their preferred store.
    pub store_id: Option<String>,
    /// `personal` or `generic`: the kind of offers they get or, held out, would have got
    /// (personal with the profiling consent).
    pub offer_type: String,
}

const OFFER_COLUMNS: &str = "code, campaign_id, customer_key, rank, sku, kind, percent_off, discount_cents, valid_from, \
     valid_to, p_redeem, expected_cost_cents, expected_incremental_margin_cents, personal, reason, p0, affinity, band, \
     target, category, mechanic, buy_units, pay_units, min_spend_cents, budgets, max_times";

impl Store {
    /// The directories stored campaigns' files were written to (as recorded when planned).
    pub async fn campaign_directories(&self) -> Result<Vec<String>, Error> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT directory FROM campaigns WHERE directory IS NOT NULL ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Where a stored campaign's files were written, if it was recorded.
    pub async fn campaign_directory(&self, id: &str) -> Result<Option<String>, Error> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT directory FROM campaigns WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        match row {
            None => Err(Error::new(ErrorKind::NotFound, format!("no campaign {id:?}"))),
            Some((dir,)) => Ok(dir),
        }
    }

    /// Whether a campaign with this id is stored.
    pub async fn has_campaign(&self, id: &str) -> Result<bool, Error> {
        let n: (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM campaigns WHERE id = $1").bind(id).fetch_one(&self.pool).await?;
        Ok(n.0 > 0)
    }

    /// Stores a campaign with its offers and members in one transaction; a campaign already
    /// stored is refused.
    pub async fn store_campaign(&self, c: &Campaign, offers: &[StoredOffer], members: &[Member]) -> Result<(), Error> {
        if self.has_campaign(&c.id).await? {
            return Err(Error::new(ErrorKind::Conflict, format!("the campaign {:?} is already stored", c.id)));
        }
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO campaigns (id, name, valid_from, valid_to, seed, policy, summary, created_at, directory, status, \
             activation_required, stores, min_margin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'planned', $10, $11, $12)",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.valid_from)
        .bind(&c.valid_to)
        .bind(c.seed)
        .bind(&c.policy)
        .bind(&c.summary)
        .bind(now())
        .bind(&c.directory)
        .bind(i64::from(c.activation_required))
        .bind(c.stores.join("\n"))
        .bind(c.min_margin)
        .execute(&mut *tx)
        .await
        .map_err(|e| match e.as_database_error().is_some_and(|d| d.is_unique_violation()) {
            // Another process stored it between the check and now.
            true => Error::new(ErrorKind::Conflict, format!("the campaign {:?} is already stored", c.id)).caused_by(e),
            false => Error::from(e),
        })?;
        for chunk in offers.chunks(500) {
            let sql = format!("INSERT INTO offers ({OFFER_COLUMNS}) VALUES {}", self.placeholders(chunk.len(), 26));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for o in chunk {
                q = q
                    .bind(&o.code)
                    .bind(&c.id)
                    .bind(&o.customer_key)
                    .bind(o.rank)
                    .bind(&o.sku)
                    .bind(&o.kind)
                    .bind(o.percent_off)
                    .bind(o.discount_cents)
                    .bind(&o.valid_from)
                    .bind(&o.valid_to)
                    .bind(o.p_redeem)
                    .bind(o.expected_cost_cents)
                    .bind(o.expected_incremental_margin_cents)
                    .bind(i64::from(o.personal))
                    .bind(&o.reason)
                    .bind(o.p0)
                    .bind(o.affinity)
                    .bind(o.band)
                    .bind(&o.target)
                    .bind(o.category.clone())
                    .bind(&o.mechanic)
                    .bind(o.buy_units)
                    .bind(o.pay_units)
                    .bind(o.min_spend_cents)
                    .bind(&o.budgets)
                    .bind(o.max_times);
            }
            q.execute(&mut *tx).await?;
        }
        for (name, cap) in &c.budgets {
            sqlx::query(
                "INSERT INTO campaign_budgets (campaign_id, name, cap_cents, spent_cents) VALUES ($1, $2, $3, 0)",
            )
            .bind(&c.id)
            .bind(name)
            .bind(cap)
            .execute(&mut *tx)
            .await?;
        }
        for chunk in members.chunks(1000) {
            let sql = format!(
                "INSERT INTO campaign_members (campaign_id, customer_key, status, segment, store_id, offer_type) VALUES {}",
                self.placeholders(chunk.len(), 6)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                q = q
                    .bind(&c.id)
                    .bind(&m.customer_key)
                    .bind(&m.status)
                    .bind(&m.segment)
                    .bind(m.store_id.clone())
                    .bind(&m.offer_type);
            }
            q.execute(&mut *tx).await?;
        }
        Store::audit(
            &mut *tx,
            "store_campaign",
            None,
            &format!("{{\"campaign\":{:?},\"offers\":{},\"members\":{}}}", c.id, offers.len(), members.len()),
        )
        .await?;
        tx.commit().await?;
        self.analyze().await?;
        Ok(())
    }

    /// Products offered to each customer by other campaigns than `except` starting on or
    /// after `since` (YYYY-MM-DD): `(customer_key, sku)`, for the policy's cool-down.
    pub async fn offered_since(&self, since: &str, except: &str) -> Result<Vec<(String, String)>, Error> {
        Ok(sqlx::query_as("SELECT customer_key, sku FROM offers WHERE valid_from >= $1 AND campaign_id <> $2")
            .bind(since)
            .bind(except)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Every offer made to the customer a reference names, in any campaign that was
    /// published, newest first (at most `limit`), with when it was redeemed.
    pub async fn offer_history(&self, reference: &str, limit: i64) -> Result<Vec<OfferRecord>, Error> {
        let id = self.resolve(reference).await?;
        let rows: Vec<OfferRecordRow> = sqlx::query_as(
            "SELECT o.campaign_id, o.code, o.sku, o.kind, o.percent_off, o.discount_cents, o.valid_from, o.valid_to, \
             o.redeemed_at FROM offers o JOIN cards k ON k.customer_key = o.customer_key \
             JOIN campaigns c ON c.id = o.campaign_id AND c.status <> 'planned' \
             WHERE k.customer_id = $1 ORDER BY o.valid_from DESC, o.rank, o.code LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(campaign_id, code, sku, kind, percent_off, discount_cents, valid_from, valid_to, redeemed_at)| {
                OfferRecord {
                    campaign_id,
                    code,
                    sku,
                    kind,
                    percent_off,
                    discount_cents,
                    valid_from,
                    valid_to,
                    redeemed_at,
                }
            })
            .collect())
    }

    /// The offers of the customer a reference names (card, e-mail, phone or `#id`), valid on
    /// `day` (YYYY-MM-DD), best first: what the app shows. Only published campaigns' offers:
    /// a planned campaign reaches nobody until it is published, a stopped one no more.
    pub async fn offers_of(&self, reference: &str, day: &str) -> Result<Vec<StoredOffer>, Error> {
        let id = self.resolve(reference).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT o.code, o.customer_key, o.rank, o.sku, o.kind, o.percent_off, o.discount_cents, o.valid_from, o.valid_to, \
             o.p_redeem, o.expected_cost_cents, o.expected_incremental_margin_cents, o.personal, o.reason, o.p0, o.affinity, o.band, \
             o.target, o.category, o.mechanic, o.buy_units, o.pay_units, o.min_spend_cents, o.budgets, o.max_times \
             FROM offers o JOIN cards k ON k.customer_key = o.customer_key \
             JOIN campaigns c ON c.id = o.campaign_id AND c.status = 'published' \
             WHERE k.customer_id = $1 AND o.valid_from <= $2 AND o.valid_to >= $2 AND {} ORDER BY o.valid_to, o.rank, o.code",
            crate::shoppers::OFFER_ALLOWED
        )))
        .bind(id)
        .bind(day)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                use sqlx::Row;
                Ok(StoredOffer {
                    code: r.try_get(0)?,
                    customer_key: r.try_get(1)?,
                    rank: r.try_get(2)?,
                    sku: r.try_get(3)?,
                    kind: r.try_get(4)?,
                    percent_off: r.try_get(5)?,
                    discount_cents: r.try_get(6)?,
                    valid_from: r.try_get(7)?,
                    valid_to: r.try_get(8)?,
                    p_redeem: r.try_get(9)?,
                    expected_cost_cents: r.try_get(10)?,
                    expected_incremental_margin_cents: r.try_get(11)?,
                    personal: r.try_get::<i64, _>(12)? != 0,
                    reason: r.try_get(13)?,
                    p0: r.try_get(14)?,
                    affinity: r.try_get(15)?,
                    band: r.try_get(16)?,
                    target: r.try_get(17)?,
                    category: r.try_get(18)?,
                    mechanic: r.try_get(19)?,
                    buy_units: r.try_get(20)?,
                    pay_units: r.try_get(21)?,
                    min_spend_cents: r.try_get(22)?,
                    budgets: r.try_get(23)?,
                    max_times: r.try_get(24)?,
                })
            })
            .collect()
    }

    /// Members of a campaign by status.
    pub async fn campaign_members(&self, id: &str) -> Result<Vec<(String, i64)>, Error> {
        Ok(sqlx::query_as(
            "SELECT status, COUNT(*) FROM campaign_members WHERE campaign_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }
}
