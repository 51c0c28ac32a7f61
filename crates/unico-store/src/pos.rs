//! The tills' side of the store: terminals, and receipts redeemed exactly once.
//!
//! A confirm is one transaction: it finds the receipt by its key (store, till, number) —
//! there already, it is a retry and answers what it answered —, reads the shopper's offers
//! and the budgets left as they are now, prices the basket ([`unico_offers::till::price`]),
//! and claims each offer with an update that only touches an offer nobody redeemed
//! (`redeemed_at IS NULL`) and each budget with one that only adds what fits under its
//! cap. A claim that finds the offer or the budget taken by a concurrent confirm rolls
//! back and prices again, so no interleaving of confirms redeems an offer twice or spends
//! a budget beyond its cap. Voids and refunds give back exactly what was given, in one
//! transaction each, idempotently.

use crate::shoppers::OFFER_ALLOWED;
use crate::{Error, ErrorKind, Store, now};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use unico_offers::till::{self, Item, Line, On, Priced, Terms, TillOffer};

/// A till's registration (its token is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Terminal {
    /// Its number.
    pub id: i64,
    /// The store it is in.
    pub store_id: String,
    /// The till.
    pub till_id: String,
    /// When registered (UTC).
    pub created_at: String,
    /// When revoked, if it was.
    pub revoked_at: Option<String>,
}

/// A receipt's key: what a retried request names again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReceiptKey {
    /// The store.
    pub store_id: String,
    /// The till.
    pub till_id: String,
    /// The receipt number.
    pub receipt_no: String,
}

/// One of a customer's offers with what the till needs of its campaign and state.
#[derive(Debug, Clone, PartialEq)]
pub struct WalletRow {
    /// The customer's lake key.
    pub customer_key: String,
    /// The offer as the pricing sees it (without a description).
    pub offer: TillOffer,
    /// The product's sku (empty for a category or basket offer).
    pub sku: String,
}

/// A receipt confirmed: the answer the till got, and whether this call is a retry.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmed {
    /// The answer (JSON) as first given.
    pub response: String,
    /// A retry of a receipt already confirmed: nothing was redeemed by this call.
    pub replayed: bool,
    /// The customer whose offers it redeemed.
    pub customer_key: Option<String>,
}

/// A receipt's line as kept for refunds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct KeptLine {
    line_no: u32,
    sku: String,
    qty_milli: i64,
    unit_price_cents: i64,
    #[serde(default)]
    refunded_milli: i64,
}

/// A receipt's state and its discounts: (offer code, line, given, taken back), cents.
pub type ReceiptView = (String, Vec<(String, i64, i64, i64)>);

/// What a confirm is asked.
pub struct ConfirmRequest<'a> {
    /// The receipt's key.
    pub key: &'a ReceiptKey,
    /// SHA-256 of the request as sent: the same key with another body is refused.
    pub request_hash: &'a str,
    /// The card's keyed lookup hash ([`Store::card_lookup`]), if a card was shown.
    pub card_hash: Option<&'a str>,
    /// When the receipt was paid (UTC stamp).
    pub at: &'a str,
    /// Its day in the chain's calendar.
    pub day: &'a str,
    /// The basket.
    pub lines: &'a [Line],
    /// What the product master says of the basket's products.
    pub items: &'a HashMap<String, Item>,
}

/// The budgets a stored offer counts against, as map keys: `<campaign>\u{1f}<budget>`.
pub fn budget_key(campaign_id: &str, name: &str) -> String {
    format!("{campaign_id}\u{1f}{name}")
}

const WALLET_COLUMNS: &str = "o.customer_key, o.code, o.campaign_id, o.sku, o.target, o.category, o.mechanic, o.percent_off, \
     o.discount_cents, o.buy_units, o.pay_units, o.max_times, o.min_spend_cents, o.valid_from, o.valid_to, o.activated_at, \
     o.redeemed_at, o.budgets, c.activation_required, c.stores, c.min_margin";

fn wallet_row(r: &sqlx::any::AnyRow) -> Result<WalletRow, Error> {
    use sqlx::Row;
    let campaign_id: String = r.try_get(2)?;
    let sku: String = r.try_get(3)?;
    let target: String = r.try_get(4)?;
    let category: Option<String> = r.try_get(5)?;
    let mechanic: String = r.try_get(6)?;
    let percent: i64 = r.try_get(7)?;
    let discount: i64 = r.try_get(8)?;
    let (buy, pay, max_times): (i64, i64, i64) = (r.try_get(9)?, r.try_get(10)?, r.try_get(11)?);
    let min_spend: i64 = r.try_get(12)?;
    let on = match target.as_str() {
        "basket" => On::Basket,
        "category" => On::Category(category.unwrap_or_default()),
        _ => On::Product(sku.clone()),
    };
    let terms = match mechanic.as_str() {
        "multi_buy" => Terms::MultiBuy { buy: buy as u32, pay: pay as u32, max_times: max_times.max(1) as u32 },
        "spend_reward" => Terms::SpendReward { min_spend_cents: min_spend, reward_cents: discount },
        _ if percent > 0 => Terms::PercentOff(percent as u32),
        _ => Terms::AmountOff(discount),
    };
    let budgets: String = r.try_get(17)?;
    let stores: String = r.try_get(19)?;
    Ok(WalletRow {
        customer_key: r.try_get(0)?,
        sku,
        offer: TillOffer {
            code: r.try_get(1)?,
            on,
            terms,
            description: String::new(),
            valid_from: r.try_get(13)?,
            valid_to: r.try_get(14)?,
            activated: r.try_get::<Option<String>, _>(15)?.is_some(),
            used: r.try_get::<Option<String>, _>(16)?.is_some(),
            budgets: budgets.lines().filter(|b| !b.is_empty()).map(|b| budget_key(&campaign_id, b)).collect(),
            activation_required: r.try_get::<i64, _>(18)? != 0,
            stores: stores.lines().filter(|s| !s.is_empty()).map(str::to_string).collect(),
            min_margin: r.try_get(20)?,
            campaign_id,
        },
    })
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

impl Store {
    /// Notes, in the caller's transaction, that the tills' wallets must reload one
    /// customer (`kind` "customer"), everything ("all") or the terminals ("terminals").
    pub(crate) async fn pos_changed<'e, E>(executor: E, kind: &str, customer_key: Option<&str>) -> Result<(), Error>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query("INSERT INTO pos_changes (at, kind, customer_key) VALUES ($1, $2, $3)")
            .bind(now())
            .bind(kind)
            .bind(customer_key)
            .execute(executor)
            .await?;
        Ok(())
    }

    /// Notes a change the tills' wallets must reload (`products`: the product master).
    pub async fn pos_note(&self, kind: &str) -> Result<(), Error> {
        Store::pos_changed(&self.pool, kind, None).await
    }

    /// [`Store::pos_changed`] for the customer holding offer `code`.
    pub(crate) async fn pos_changed_offer(tx: &mut sqlx::Transaction<'_, sqlx::Any>, code: &str) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO pos_changes (at, kind, customer_key) SELECT $1, 'customer', customer_key FROM offers WHERE code = $2",
        )
        .bind(now())
        .bind(code)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The keyed hash a card is looked up by (computed in memory: no query).
    pub fn card_lookup(&self, card: &str) -> String {
        self.key.lookup("card", card.trim())
    }

    /// Registers a till of `store_id`; `token_hash` is the SHA-256 (hex) of its token.
    pub async fn add_terminal(&self, store_id: &str, till_id: &str, token_hash: &str) -> Result<Terminal, Error> {
        let mut tx = self.write_tx().await?;
        let at = now();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO terminals (token_hash, store_id, till_id, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(token_hash)
        .bind(store_id)
        .bind(till_id)
        .bind(&at)
        .fetch_one(&mut *tx)
        .await?;
        Store::audit(
            &mut *tx,
            "add_terminal",
            None,
            &serde_json::json!({"terminal": id, "store": store_id, "till": till_id}).to_string(),
        )
        .await?;
        Store::pos_changed(&mut *tx, "terminals", None).await?;
        tx.commit().await?;
        Ok(Terminal { id, store_id: store_id.into(), till_id: till_id.into(), created_at: at, revoked_at: None })
    }

    /// Every till registered, by number.
    pub async fn terminals(&self) -> Result<Vec<Terminal>, Error> {
        let rows: Vec<(i64, String, String, String, Option<String>)> =
            sqlx::query_as("SELECT id, store_id, till_id, created_at, revoked_at FROM terminals ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, store_id, till_id, created_at, revoked_at)| Terminal {
                id,
                store_id,
                till_id,
                created_at,
                revoked_at,
            })
            .collect())
    }

    /// The live tills with their token hashes: (token hash, store, till).
    pub async fn live_terminals(&self) -> Result<Vec<(String, String, String)>, Error> {
        Ok(sqlx::query_as("SELECT token_hash, store_id, till_id FROM terminals WHERE revoked_at IS NULL")
            .fetch_all(&self.pool)
            .await?)
    }

    /// Revokes a till's token; false when there is no such till or it was revoked already.
    pub async fn revoke_terminal(&self, id: i64) -> Result<bool, Error> {
        let mut tx = self.write_tx().await?;
        let r = sqlx::query("UPDATE terminals SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 1 {
            Store::audit(&mut *tx, "revoke_terminal", None, &format!("{{\"terminal\":{id}}}")).await?;
            Store::pos_changed(&mut *tx, "terminals", None).await?;
        } else if self.terminals().await?.iter().all(|t| t.id != id) {
            return Err(Error::new(ErrorKind::NotFound, format!("no terminal {id}")));
        }
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Every card: (lookup hash, customer id, the card's lake key).
    pub async fn pos_cards(&self) -> Result<Vec<(String, i64, String)>, Error> {
        Ok(sqlx::query_as("SELECT card_hash, customer_id, customer_key FROM cards").fetch_all(&self.pool).await?)
    }

    /// The cards of the customer holding lake key `key` now: (lookup hash, customer id, key).
    pub async fn pos_cards_of_key(&self, key: &str) -> Result<Vec<(String, i64, String)>, Error> {
        Ok(sqlx::query_as(
            "SELECT k.card_hash, k.customer_id, k.customer_key FROM cards k WHERE k.customer_id IN \
             (SELECT customer_id FROM cards WHERE customer_key = $1)",
        )
        .bind(key)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Offers of published campaigns, of every customer or of those holding `keys`.
    pub async fn pos_offers(&self, keys: Option<&[String]>) -> Result<Vec<WalletRow>, Error> {
        let rows = match keys {
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {WALLET_COLUMNS} FROM offers o JOIN campaigns c ON c.id = o.campaign_id AND c.status = 'published' \
                     WHERE {OFFER_ALLOWED}"
                )))
                .fetch_all(&self.pool)
                .await?
            }
            Some(keys) => {
                let mut out = Vec::new();
                for k in keys {
                    out.extend(
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "SELECT {WALLET_COLUMNS} FROM offers o JOIN campaigns c ON c.id = o.campaign_id \
                             AND c.status = 'published' WHERE o.customer_key = $1 AND {OFFER_ALLOWED}"
                        )))
                        .bind(k)
                        .fetch_all(&self.pool)
                        .await?,
                    );
                }
                out
            }
        };
        rows.iter().map(wallet_row).collect()
    }

    /// What each capped budget has left, by [`budget_key`].
    pub async fn pos_budgets(&self) -> Result<HashMap<String, i64>, Error> {
        let rows: Vec<(String, String, i64, i64)> =
            sqlx::query_as("SELECT campaign_id, name, cap_cents, spent_cents FROM campaign_budgets")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(c, n, cap, spent)| (budget_key(&c, &n), cap - spent)).collect())
    }

    /// Changes after `after`: (id, kind, customer key).
    pub async fn pos_changes(&self, after: i64) -> Result<Vec<(i64, String, Option<String>)>, Error> {
        Ok(sqlx::query_as("SELECT id, kind, customer_key FROM pos_changes WHERE id > $1 ORDER BY id LIMIT 10000")
            .bind(after)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Forgets changes older than `before` (a UTC stamp): every running server has applied
    /// them long since, and a server that starts loads its wallets whole. Returns how many.
    pub async fn pos_prune_changes(&self, before: &str) -> Result<u64, Error> {
        let r = sqlx::query("DELETE FROM pos_changes WHERE at < $1").bind(before).execute(&self.pool).await?;
        Ok(r.rows_affected())
    }

    /// The last change's id (0 when none).
    pub async fn pos_last_change(&self) -> Result<i64, Error> {
        let (n,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM pos_changes").fetch_one(&self.pool).await?;
        Ok(n.unwrap_or(0))
    }

    /// Confirms a receipt: prices it against the offers and budgets as they are in the
    /// transaction, redeems what it gives, once. `answer` writes the response from the
    /// priced basket, the redemption id and whether the card is known.
    pub async fn pos_confirm(
        &self,
        req: &ConfirmRequest<'_>,
        answer: &(dyn Fn(&Priced, &str, bool) -> String + Sync),
    ) -> Result<Confirmed, Error> {
        let id = format!("r_{}", hex::encode(rand::random::<[u8; 12]>()));
        let k = req.key;
        for _attempt in 0..16 {
            let _turn = self.writer_turn().await;
            let mut tx = self.write_tx().await?;
            let existing: Option<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT request_hash, response, customer_key FROM pos_receipts \
                 WHERE store_id = $1 AND till_id = $2 AND receipt_no = $3",
            )
            .bind(&k.store_id)
            .bind(&k.till_id)
            .bind(&k.receipt_no)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((hash, response, customer_key)) = existing {
                tx.rollback().await?;
                if hash != req.request_hash {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "receipt {} of till {} in store {} was confirmed with another basket",
                            k.receipt_no, k.till_id, k.store_id
                        ),
                    ));
                }
                return Ok(Confirmed { response, replayed: true, customer_key });
            }
            let card: Option<(i64, String)> = match req.card_hash {
                Some(h) => {
                    sqlx::query_as("SELECT customer_id, customer_key FROM cards WHERE card_hash = $1")
                        .bind(h)
                        .fetch_optional(&mut *tx)
                        .await?
                }
                None => None,
            };
            let (rows, budgets) = match &card {
                Some((customer, _)) => {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {WALLET_COLUMNS} FROM offers o JOIN campaigns c ON c.id = o.campaign_id AND c.status = 'published' \
                         JOIN cards k ON k.customer_key = o.customer_key WHERE k.customer_id = $1"
                    )))
                    .bind(customer)
                    .fetch_all(&mut *tx)
                    .await?;
                    let rows: Vec<WalletRow> = rows.iter().map(wallet_row).collect::<Result<_, _>>()?;
                    let mut budgets = HashMap::new();
                    for c in rows.iter().map(|r| r.offer.campaign_id.clone()).collect::<std::collections::BTreeSet<_>>()
                    {
                        let b: Vec<(String, i64, i64)> = sqlx::query_as(
                            "SELECT name, cap_cents, spent_cents FROM campaign_budgets WHERE campaign_id = $1",
                        )
                        .bind(&c)
                        .fetch_all(&mut *tx)
                        .await?;
                        budgets.extend(b.into_iter().map(|(n, cap, spent)| (budget_key(&c, &n), cap - spent)));
                    }
                    (rows, budgets)
                }
                None => (Vec::new(), HashMap::new()),
            };
            let offers: Vec<TillOffer> = rows.into_iter().map(|r| r.offer).collect();
            let priced = till::price(req.lines, &offers, req.items, &budgets, &k.store_id, req.day);
            // Claim every offer given and its budgets; a claim lost to another confirm
            // rolls back and prices again.
            let mut given: BTreeMap<&str, i64> = BTreeMap::new();
            for d in &priced.discounts {
                *given.entry(d.offer_code.as_str()).or_default() += d.amount_cents;
            }
            let mut lost = false;
            for (code, amount) in &given {
                let r = sqlx::query(
                    "UPDATE offers SET redeemed_at = $1, redeemed_discount_cents = $2, redeemed_by = $3 \
                     WHERE code = $4 AND redeemed_at IS NULL",
                )
                .bind(req.at)
                .bind(amount)
                .bind(&id)
                .bind(*code)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() != 1 {
                    lost = true;
                    break;
                }
                let o = offers.iter().find(|o| o.code == *code).expect("a discount's offer is the shopper's");
                for b in o.budgets.iter().filter(|b| budgets.contains_key(*b)) {
                    let (campaign, name) = b.split_once('\u{1f}').expect("a budget key");
                    let r = sqlx::query(
                        "UPDATE campaign_budgets SET spent_cents = spent_cents + $1 \
                         WHERE campaign_id = $2 AND name = $3 AND spent_cents + $1 <= cap_cents",
                    )
                    .bind(amount)
                    .bind(campaign)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                    if r.rows_affected() != 1 {
                        lost = true;
                        break;
                    }
                }
                if lost {
                    break;
                }
            }
            if lost {
                tx.rollback().await?;
                continue;
            }
            let kept: Vec<KeptLine> = req
                .lines
                .iter()
                .map(|l| KeptLine {
                    line_no: l.line_no,
                    sku: l.sku.clone(),
                    qty_milli: l.qty_milli,
                    unit_price_cents: l.unit_price_cents,
                    refunded_milli: 0,
                })
                .collect();
            let response = answer(&priced, &id, card.is_some());
            let customer_key = card.as_ref().map(|c| c.1.clone());
            let stamp = now();
            let inserted = sqlx::query(
                "INSERT INTO pos_receipts (id, store_id, till_id, receipt_no, request_hash, customer_key, at, day, state, lines, \
                 response, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'confirmed', $9, $10, $11, $11)",
            )
            .bind(&id)
            .bind(&k.store_id)
            .bind(&k.till_id)
            .bind(&k.receipt_no)
            .bind(req.request_hash)
            .bind(customer_key.clone())
            .bind(req.at)
            .bind(req.day)
            .bind(serde_json::to_string(&kept).expect("lines serialise"))
            .bind(&response)
            .bind(&stamp)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                // The same receipt confirmed at this moment by a retry: it answers next round.
                Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                    tx.rollback().await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            for d in &priced.discounts {
                let o = offers.iter().find(|o| o.code == d.offer_code).expect("the shopper's offer");
                let names: Vec<&str> = o.budgets.iter().filter_map(|b| b.split_once('\u{1f}').map(|x| x.1)).collect();
                sqlx::query(
                    "INSERT INTO pos_discounts (receipt_id, offer_code, campaign_id, line_no, amount_cents, budgets) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&id)
                .bind(&d.offer_code)
                .bind(&d.campaign_id)
                .bind(i64::from(d.line_no))
                .bind(d.amount_cents)
                .bind(names.join("\n"))
                .execute(&mut *tx)
                .await?;
            }
            if !priced.discounts.is_empty() {
                let event = serde_json::json!({
                    "redemption_id": id, "state": "confirmed", "store_id": k.store_id, "till_id": k.till_id,
                    "receipt_no": k.receipt_no, "customer_key": customer_key, "at": req.at,
                    "discount_cents": priced.discount_cents,
                    "offers": given.iter().map(|(c, a)| serde_json::json!({"offer_code": c, "amount_cents": a})).collect::<Vec<_>>(),
                });
                Store::emit(&mut tx, "redemption", &event).await?;
                Store::pos_changed(&mut *tx, "customer", customer_key.as_deref()).await?;
            }
            tx.commit().await?;
            return Ok(Confirmed { response, replayed: false, customer_key });
        }
        Err(Error::new(ErrorKind::Conflict, "too many tills redeemed these offers at once; send the confirm again"))
    }

    async fn receipt(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        k: &ReceiptKey,
    ) -> Result<(String, String, String, Option<String>), Error> {
        let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, state, lines, customer_key FROM pos_receipts WHERE store_id = $1 AND till_id = $2 AND receipt_no = $3",
        )
        .bind(&k.store_id)
        .bind(&k.till_id)
        .bind(&k.receipt_no)
        .fetch_optional(&mut **tx)
        .await?;
        row.ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("no receipt {} of till {} in store {} was confirmed", k.receipt_no, k.till_id, k.store_id),
            )
        })
    }

    /// Gives back what a receipt's discounts still hold (offers usable again, budgets
    /// refilled), in the caller's transaction.
    async fn release(tx: &mut sqlx::Transaction<'_, sqlx::Any>, receipt: &str) -> Result<(), Error> {
        let rows: Vec<(String, String, i64, i64, String)> = sqlx::query_as(
            "SELECT offer_code, campaign_id, amount_cents, taken_back_cents, budgets FROM pos_discounts WHERE receipt_id = $1",
        )
        .bind(receipt)
        .fetch_all(&mut **tx)
        .await?;
        for (code, campaign, amount, taken, budgets) in rows {
            sqlx::query(
                "UPDATE pos_discounts SET taken_back_cents = amount_cents WHERE receipt_id = $1 AND offer_code = $2",
            )
            .bind(receipt)
            .bind(&code)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "UPDATE offers SET redeemed_at = NULL, redeemed_discount_cents = NULL, redeemed_by = NULL \
                 WHERE code = $1 AND redeemed_by = $2",
            )
            .bind(&code)
            .bind(receipt)
            .execute(&mut **tx)
            .await?;
            for name in budgets.lines().filter(|b| !b.is_empty()) {
                sqlx::query(
                    "UPDATE campaign_budgets SET spent_cents = spent_cents - $1 WHERE campaign_id = $2 AND name = $3",
                )
                .bind(amount - taken)
                .bind(&campaign)
                .bind(name)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }

    /// Voids a receipt: its offers can be used again and its budgets get back what it
    /// spent. Idempotent: a voided receipt stays voided (returns false). A receipt partly
    /// or wholly refunded cannot be voided (its refunds already gave money back).
    pub async fn pos_void(&self, k: &ReceiptKey) -> Result<(String, bool), Error> {
        let _turn = self.writer_turn().await;
        let mut tx = self.write_tx().await?;
        let (id, state, _, customer_key) = Store::receipt(&mut tx, k).await?;
        match state.as_str() {
            "voided" => return Ok((id, false)),
            "confirmed" => {}
            other => {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "receipt {} is {}: a refunded receipt cannot be voided",
                        k.receipt_no,
                        other.replace('_', " ")
                    ),
                ));
            }
        }
        Store::release(&mut tx, &id).await?;
        sqlx::query("UPDATE pos_receipts SET state = 'voided', updated_at = $1 WHERE id = $2")
            .bind(now())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        let event = serde_json::json!({"redemption_id": id, "state": "voided", "store_id": k.store_id,
            "till_id": k.till_id, "receipt_no": k.receipt_no, "customer_key": customer_key});
        Store::emit(&mut tx, "redemption", &event).await?;
        Store::pos_changed(&mut *tx, "customer", customer_key.as_deref()).await?;
        tx.commit().await?;
        Ok((id, true))
    }

    /// Refunds units of a receipt's lines, once per `refund_no`: each line's discounts give
    /// back their share of the units returned ([`till::taken_back`]); when every unit is
    /// back, the receipt is refunded and its offers can be used again, as after a void.
    /// Returns the answer (JSON) and whether it is a retry.
    pub async fn pos_refund(
        &self,
        k: &ReceiptKey,
        refund_no: &str,
        request_hash: &str,
        lines: &[(u32, i64)],
    ) -> Result<(String, bool), Error> {
        let _turn = self.writer_turn().await;
        let mut tx = self.write_tx().await?;
        let (id, state, kept, customer_key) = Store::receipt(&mut tx, k).await?;
        let done: Option<(String, String)> =
            sqlx::query_as("SELECT request_hash, response FROM pos_refunds WHERE receipt_id = $1 AND refund_no = $2")
                .bind(&id)
                .bind(refund_no)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((hash, response)) = done {
            tx.rollback().await?;
            if hash != request_hash {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("refund {refund_no} of receipt {} was made with other lines", k.receipt_no),
                ));
            }
            return Ok((response, true));
        }
        if state == "voided" || state == "refunded" {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("receipt {} is {state}: nothing is left to refund", k.receipt_no),
            ));
        }
        let mut kept: Vec<KeptLine> = serde_json::from_str(&kept)
            .map_err(|e| Error::new(ErrorKind::Internal, format!("receipt {id}'s lines are damaged: {e}")))?;
        let discounts: Vec<(String, i64, i64, i64, String, String)> = sqlx::query_as(
            "SELECT offer_code, line_no, amount_cents, taken_back_cents, campaign_id, budgets FROM pos_discounts WHERE receipt_id = $1",
        )
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
        let mut out_lines = Vec::new();
        let (mut refund_total, mut taken_total) = (0i64, 0i64);
        let mut by_offer: BTreeMap<String, i64> = BTreeMap::new();
        for (line_no, q) in lines {
            let Some(l) = kept.iter_mut().find(|l| l.line_no == *line_no) else {
                return Err(Error::new(ErrorKind::Input, format!("receipt {} has no line {line_no}", k.receipt_no)));
            };
            if l.refunded_milli + q > l.qty_milli {
                return Err(Error::new(
                    ErrorKind::Input,
                    format!(
                        "line {line_no}: {} returned of {} sold",
                        quantity_text(l.refunded_milli + q),
                        quantity_text(l.qty_milli)
                    ),
                ));
            }
            let value = Line {
                line_no: l.line_no,
                sku: l.sku.clone(),
                qty_milli: l.qty_milli,
                unit_price_cents: l.unit_price_cents,
            }
            .value_cents();
            let (before, after) = (l.refunded_milli, l.refunded_milli + q);
            let value_delta =
                till::value_back(value, l.qty_milli, after) - till::value_back(value, l.qty_milli, before);
            let mut taken_line = 0;
            for (code, dl, amount, taken, campaign, budgets) in discounts.iter().filter(|d| d.1 == i64::from(*line_no))
            {
                let now_taken = till::taken_back(*amount, l.qty_milli, after);
                let delta = (now_taken - taken).max(0);
                if delta == 0 {
                    continue;
                }
                sqlx::query(
                    "UPDATE pos_discounts SET taken_back_cents = taken_back_cents + $1 \
                     WHERE receipt_id = $2 AND offer_code = $3 AND line_no = $4",
                )
                .bind(delta)
                .bind(&id)
                .bind(code)
                .bind(dl)
                .execute(&mut *tx)
                .await?;
                for name in budgets.lines().filter(|b| !b.is_empty()) {
                    sqlx::query(
                        "UPDATE campaign_budgets SET spent_cents = spent_cents - $1 WHERE campaign_id = $2 AND name = $3",
                    )
                    .bind(delta)
                    .bind(campaign)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                }
                *by_offer.entry(code.clone()).or_default() += delta;
                taken_line += delta;
            }
            l.refunded_milli = after;
            refund_total += value_delta - taken_line;
            taken_total += taken_line;
            out_lines.push(serde_json::json!({
                "line_no": line_no, "quantity": quantity_text(*q),
                "refund_cents": value_delta - taken_line, "discount_taken_back_cents": taken_line,
            }));
        }
        for (code, delta) in &by_offer {
            sqlx::query(
                "UPDATE offers SET redeemed_discount_cents = redeemed_discount_cents - $1 WHERE code = $2 AND redeemed_by = $3",
            )
            .bind(delta)
            .bind(code)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        }
        let all_back = kept.iter().all(|l| l.refunded_milli == l.qty_milli);
        let new_state = if all_back { "refunded" } else { "partially_refunded" };
        if all_back {
            // Everything is back: as after a void, the offers can be used again.
            Store::release(&mut tx, &id).await?;
        }
        sqlx::query("UPDATE pos_receipts SET state = $1, lines = $2, updated_at = $3 WHERE id = $4")
            .bind(new_state)
            .bind(serde_json::to_string(&kept).expect("lines serialise"))
            .bind(now())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        let response = serde_json::json!({
            "redemption_id": id, "receipt_no": k.receipt_no, "refund_no": refund_no, "state": new_state,
            "refund_cents": refund_total, "discount_taken_back_cents": taken_total, "lines": out_lines, "replayed": false,
        })
        .to_string();
        sqlx::query(
            "INSERT INTO pos_refunds (receipt_id, refund_no, request_hash, response, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(refund_no)
        .bind(request_hash)
        .bind(&response)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let event = serde_json::json!({"redemption_id": id, "state": new_state, "store_id": k.store_id,
            "till_id": k.till_id, "receipt_no": k.receipt_no, "refund_no": refund_no,
            "customer_key": customer_key, "discount_taken_back_cents": taken_total});
        Store::emit(&mut tx, "redemption", &event).await?;
        Store::pos_changed(&mut *tx, "customer", customer_key.as_deref()).await?;
        tx.commit().await?;
        Ok((response, false))
    }

    /// A receipt's state and discounts: (state, [(offer code, line, given, taken back)]).
    pub async fn pos_receipt(&self, k: &ReceiptKey) -> Result<ReceiptView, Error> {
        let mut tx = self.pool.begin().await?;
        let (id, state, _, _) = Store::receipt(&mut tx, k).await?;
        let rows = sqlx::query_as(
            "SELECT offer_code, line_no, amount_cents, taken_back_cents FROM pos_discounts WHERE receipt_id = $1 \
             ORDER BY offer_code, line_no",
        )
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((state, rows))
    }

    /// Spent and cap of a campaign's budgets: (name, cap, spent).
    pub async fn campaign_budgets(&self, campaign: &str) -> Result<Vec<(String, i64, i64)>, Error> {
        Ok(sqlx::query_as(
            "SELECT name, cap_cents, spent_cents FROM campaign_budgets WHERE campaign_id = $1 ORDER BY name",
        )
        .bind(campaign)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// A quantity in thousandths as the till writes it ("2", "0.35").
pub fn quantity_text(milli: i64) -> String {
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{}.{:03}", milli / 1000, milli % 1000).trim_end_matches('0').to_string()
    }
}

/// The SHA-256 (hex) a token or a request is kept as.
pub fn digest(text: &str) -> String {
    sha256_hex(text)
}
