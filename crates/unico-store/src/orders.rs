//! Click-and-collect in the store: pickup slots and orders.
//!
//! A slot's places are counted in its row (`taken` of `capacity`), and an order claims one
//! with a single conditional update (`taken < capacity`) in the transaction that inserts
//! it: however many shoppers take the last place at once, one update wins and the others
//! find the slot full. Placing is idempotent per shopper and `Idempotency-Key`
//! (`UNIQUE (customer_id, idempotency_key)`): a repeated request finds the order it placed.
//! Every change of state is one conditional update (`WHERE state IN (…)`), with the
//! shopper's message queued in the outbox in the same transaction.

use crate::{Error, ErrorKind, Store, now};
use serde::{Deserialize, Serialize};

/// A pickup slot of a store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// Its number.
    pub id: i64,
    /// The store.
    pub store_id: String,
    /// When it starts (UTC stamp).
    pub starts_at: String,
    /// When it ends (UTC stamp).
    pub ends_at: String,
    /// Orders it takes.
    pub capacity: i64,
    /// Orders placed in it (not cancelled).
    pub taken: i64,
}

/// An order as stored (lines and pricing as JSON the service layer reads).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOrder {
    /// Its number.
    pub id: i64,
    /// The shopper.
    pub customer_id: i64,
    /// The pickup store.
    pub store_id: String,
    /// The slot.
    pub slot: Slot,
    /// `placed`, `picking`, `ready`, `collected`, `not_collected` or `cancelled`.
    pub state: String,
    /// When placed (UTC stamp).
    pub placed_at: String,
    /// The day it was placed in the chain's calendar (the offers' validity).
    pub day: String,
    /// The lines (JSON).
    pub lines: String,
    /// The pricing as last evaluated (JSON).
    pub priced: String,
    /// To pay, cents, as last evaluated.
    pub total_cents: i64,
    /// Last change (UTC stamp).
    pub updated_at: String,
    /// When collected.
    pub collected_at: Option<String>,
    /// When written to the lake as a receipt.
    pub in_lake_at: Option<String>,
}

/// An order to place.
pub struct NewOrder<'a> {
    /// The shopper.
    pub customer_id: i64,
    /// The pickup store.
    pub store_id: &'a str,
    /// The slot.
    pub slot_id: i64,
    /// The shopper's `Idempotency-Key`.
    pub idempotency_key: &'a str,
    /// SHA-256 of the request as sent: the same key with another body is refused.
    pub request_hash: &'a str,
    /// When (UTC stamp) and the day in the chain's calendar.
    pub placed_at: &'a str,
    /// Only a slot starting after this (UTC stamp: now and the cut-off) takes the order.
    pub open_after: &'a str,
    /// The day in the chain's calendar.
    pub day: &'a str,
    /// The lines (JSON).
    pub lines: &'a str,
    /// The pricing (JSON).
    pub priced: &'a str,
    /// To pay, cents.
    pub total_cents: i64,
    /// The shopper's message (subject, body), queued for `customer:#id` by e-mail.
    pub message: (&'a str, &'a str),
}

/// What placing did.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed {
    /// A new order.
    New(StoredOrder),
    /// The order this key placed before.
    Replayed(StoredOrder),
    /// The slot has no place left.
    SlotFull,
    /// No such slot at this store, or it has started.
    SlotClosed,
}

const ORDER_COLUMNS: &str = "o.id, o.customer_id, o.store_id, o.state, o.placed_at, o.day, o.lines, o.priced, \
     o.total_cents, o.updated_at, o.collected_at, o.in_lake_at, s.id, s.store_id, s.starts_at, s.ends_at, s.capacity, s.taken";

fn order_of(r: &sqlx::any::AnyRow) -> Result<StoredOrder, Error> {
    use sqlx::Row;
    Ok(StoredOrder {
        id: r.try_get(0)?,
        customer_id: r.try_get(1)?,
        store_id: r.try_get(2)?,
        state: r.try_get(3)?,
        placed_at: r.try_get(4)?,
        day: r.try_get(5)?,
        lines: r.try_get(6)?,
        priced: r.try_get(7)?,
        total_cents: r.try_get(8)?,
        updated_at: r.try_get(9)?,
        collected_at: r.try_get(10)?,
        in_lake_at: r.try_get(11)?,
        slot: Slot {
            id: r.try_get(12)?,
            store_id: r.try_get(13)?,
            starts_at: r.try_get(14)?,
            ends_at: r.try_get(15)?,
            capacity: r.try_get(16)?,
            taken: r.try_get(17)?,
        },
    })
}

/// Which orders to list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter<'a> {
    /// One shopper's.
    pub customer_id: Option<i64>,
    /// One store's.
    pub store_id: Option<&'a str>,
    /// One slot's.
    pub slot_id: Option<i64>,
    /// In these states (any when empty).
    pub states: &'a [&'a str],
}

async fn queue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    customer: i64,
    (subject, body): (&str, &str),
) -> Result<(), Error> {
    sqlx::query("INSERT INTO outbox (created_at, kind, recipient, subject, body) VALUES ($1, 'email', $2, $3, $4)")
        .bind(now())
        .bind(format!("customer:#{customer}"))
        .bind(subject)
        .bind(body)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Adds a pickup slot. A store has one slot per start time.
    pub async fn add_slot(&self, store_id: &str, starts_at: &str, ends_at: &str, capacity: i64) -> Result<Slot, Error> {
        let _turn = self.writer_turn().await;
        let r: Result<(i64,), sqlx::Error> = sqlx::query_as(
            "INSERT INTO pickup_slots (store_id, starts_at, ends_at, capacity, taken, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5) RETURNING id",
        )
        .bind(store_id)
        .bind(starts_at)
        .bind(ends_at)
        .bind(capacity)
        .bind(now())
        .fetch_one(&self.pool)
        .await;
        match r {
            Ok((id,)) => Ok(Slot {
                id,
                store_id: store_id.into(),
                starts_at: starts_at.into(),
                ends_at: ends_at.into(),
                capacity,
                taken: 0,
            }),
            Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => Err(Error::new(
                ErrorKind::Conflict,
                format!("store {store_id} has a slot starting at {starts_at} already"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets a slot's capacity (never below the orders it holds). False when it would be.
    pub async fn set_slot_capacity(&self, id: i64, capacity: i64) -> Result<bool, Error> {
        let _turn = self.writer_turn().await;
        let r = sqlx::query("UPDATE pickup_slots SET capacity = $1 WHERE id = $2 AND taken <= $1")
            .bind(capacity)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Slots of a store (or every store) ending after `after`, earliest first.
    pub async fn slots(&self, store_id: Option<&str>, after: &str) -> Result<Vec<Slot>, Error> {
        let rows: Vec<(i64, String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT id, store_id, starts_at, ends_at, capacity, taken FROM pickup_slots \
             WHERE ends_at > $1 AND ($2 IS NULL OR store_id = $2) ORDER BY starts_at, store_id",
        )
        .bind(after)
        .bind(store_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Slot { id: r.0, store_id: r.1, starts_at: r.2, ends_at: r.3, capacity: r.4, taken: r.5 })
            .collect())
    }

    /// Places an order: claims a place of its slot (one starting after `open_after`) and inserts it, in
    /// one transaction; the same shopper and key again answers the order placed.
    pub async fn place_order(&self, o: &NewOrder<'_>) -> Result<Placed, Error> {
        for _attempt in 0..16 {
            let _turn = self.writer_turn().await;
            let mut tx = self.write_tx().await?;
            let existing: Option<(i64, String)> =
                sqlx::query_as("SELECT id, request_hash FROM orders WHERE customer_id = $1 AND idempotency_key = $2")
                    .bind(o.customer_id)
                    .bind(o.idempotency_key)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((id, hash)) = existing {
                tx.rollback().await?;
                if hash != o.request_hash {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        "this Idempotency-Key placed another order: use a new key for a new order",
                    ));
                }
                return Ok(Placed::Replayed(self.order(id).await?));
            }
            let claimed = sqlx::query(
                "UPDATE pickup_slots SET taken = taken + 1 \
                 WHERE id = $1 AND store_id = $2 AND starts_at > $3 AND taken < capacity",
            )
            .bind(o.slot_id)
            .bind(o.store_id)
            .bind(o.open_after)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() != 1 {
                let open: Option<(i64,)> =
                    sqlx::query_as("SELECT id FROM pickup_slots WHERE id = $1 AND store_id = $2 AND starts_at > $3")
                        .bind(o.slot_id)
                        .bind(o.store_id)
                        .bind(o.open_after)
                        .fetch_optional(&mut *tx)
                        .await?;
                tx.rollback().await?;
                return Ok(if open.is_some() { Placed::SlotFull } else { Placed::SlotClosed });
            }
            let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
                "INSERT INTO orders (customer_id, store_id, slot_id, idempotency_key, request_hash, state, placed_at, day, \
                 lines, priced, total_cents, updated_at) VALUES ($1, $2, $3, $4, $5, 'placed', $6, $7, $8, $9, $10, $6) \
                 RETURNING id",
            )
            .bind(o.customer_id)
            .bind(o.store_id)
            .bind(o.slot_id)
            .bind(o.idempotency_key)
            .bind(o.request_hash)
            .bind(o.placed_at)
            .bind(o.day)
            .bind(o.lines)
            .bind(o.priced)
            .bind(o.total_cents)
            .fetch_one(&mut *tx)
            .await;
            let id = match inserted {
                Ok((id,)) => id,
                // The same key placed at this moment by a retry: it answers next round.
                Err(e) if e.as_database_error().is_some_and(|d| d.is_unique_violation()) => {
                    tx.rollback().await?;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            queue(&mut tx, o.customer_id, o.message).await?;
            Store::emit(&mut tx, "order.placed", &serde_json::json!({"order_id": id, "store_id": o.store_id})).await?;
            tx.commit().await?;
            return Ok(Placed::New(self.order(id).await?));
        }
        Err(Error::new(ErrorKind::Conflict, "too many requests placed this order at once; send it again"))
    }

    /// One order.
    pub async fn order(&self, id: i64) -> Result<StoredOrder, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders o JOIN pickup_slots s ON s.id = o.slot_id WHERE o.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => order_of(&r),
            None => Err(Error::new(ErrorKind::NotFound, format!("no order {id}"))),
        }
    }

    /// Orders, by slot then number.
    pub async fn orders(&self, f: &OrderFilter<'_>) -> Result<Vec<StoredOrder>, Error> {
        let states = f.states.join("\n");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders o JOIN pickup_slots s ON s.id = o.slot_id \
             WHERE ($1 IS NULL OR o.customer_id = $1) AND ($2 IS NULL OR o.store_id = $2) AND ($3 IS NULL OR o.slot_id = $3) \
             ORDER BY s.starts_at, o.id"
        )))
        .bind(f.customer_id)
        .bind(f.store_id)
        .bind(f.slot_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let o = order_of(r)?;
            if states.is_empty() || f.states.contains(&o.state.as_str()) {
                out.push(o);
            }
        }
        Ok(out)
    }

    /// Moves an order from one of `from` to `to`, with its new lines and pricing when
    /// given, and queues the shopper's message; `None` when its state is not one of `from`,
    /// or when it changed since it was read (two pickers marking lines at once: the second
    /// looks again rather than undoing the first's mark).
    /// Leaving `placed`, `picking` or `ready` for `cancelled` gives its place back.
    pub async fn order_change(
        &self,
        id: i64,
        from: &[&str],
        to: &str,
        repriced: Option<(&str, &str, i64)>,
        message: Option<(&str, &str)>,
    ) -> Result<Option<StoredOrder>, Error> {
        let current = self.order(id).await?;
        if !from.contains(&current.state.as_str()) {
            return Ok(None);
        }
        let _turn = self.writer_turn().await;
        let mut tx = self.write_tx().await?;
        let at = now();
        let (lines, priced, total) = repriced.unwrap_or((&current.lines, &current.priced, current.total_cents));
        let r = sqlx::query(
            "UPDATE orders SET state = $1, lines = $2, priced = $3, total_cents = $4, updated_at = $5, \
             collected_at = CASE WHEN $1 = 'collected' THEN $5 ELSE collected_at END \
             WHERE id = $6 AND state = $7 AND updated_at = $8",
        )
        .bind(to)
        .bind(lines)
        .bind(priced)
        .bind(total)
        .bind(&at)
        .bind(id)
        .bind(&current.state)
        .bind(&current.updated_at)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            // Changed by someone else meanwhile: the caller looks again.
            tx.rollback().await?;
            return Ok(None);
        }
        if to == "cancelled" {
            sqlx::query("UPDATE pickup_slots SET taken = taken - 1 WHERE id = $1 AND taken > 0")
                .bind(current.slot.id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(m) = message {
            queue(&mut tx, current.customer_id, m).await?;
        }
        Store::emit(
            &mut tx,
            &format!("order.{to}"),
            &serde_json::json!({"order_id": id, "store_id": current.store_id}),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(self.order(id).await?))
    }

    /// Collected orders not yet in the lake, oldest first, at most `limit`.
    pub async fn orders_for_lake(&self, limit: i64) -> Result<Vec<StoredOrder>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders o JOIN pickup_slots s ON s.id = o.slot_id \
             WHERE o.state = 'collected' AND o.in_lake_at IS NULL ORDER BY o.id LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(order_of).collect()
    }

    /// Marks orders written to the lake.
    pub async fn orders_in_lake(&self, ids: &[i64]) -> Result<(), Error> {
        let _turn = self.writer_turn().await;
        let mut tx = self.write_tx().await?;
        let at = now();
        for id in ids {
            sqlx::query("UPDATE orders SET in_lake_at = $1 WHERE id = $2 AND in_lake_at IS NULL")
                .bind(&at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The keyed lookup hash of one of a customer's cards (the one a collection redeems on).
    pub async fn card_hash_of(&self, customer: i64) -> Result<Option<String>, Error> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT card_hash FROM cards WHERE customer_id = $1 ORDER BY added_at LIMIT 1")
                .bind(customer)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.0))
    }
}
