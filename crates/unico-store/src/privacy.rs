//! The single customer view, consents, and a person's rights: export and erasure.
//!
//! A customer is a surviving registration plus every registration merged into it. Their
//! view decrypts each registration's data in memory only. Consents are an append-only
//! history per purpose; the current state is the latest entry. Erasure destroys each
//! registration's wrapped data key and sealed data (crypto-shredding), deletes their cards —
//! and with them the link to their pseudonymous key in the lake — and records the erasure in
//! the audit log, which never holds the erased data.

use crate::{Error, ErrorKind, Pii, Purpose, Store, now};
use serde::Serialize;

/// One registration of a customer.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    /// Its id.
    pub id: i64,
    /// Its personal data; `None` once erased.
    pub pii: Option<Pii>,
    /// When it was erased, if it was.
    pub erased_at: Option<String>,
    /// Its cards.
    pub cards: Vec<Card>,
}

/// A loyalty card.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    /// The card number.
    pub card: String,
    /// The pseudonymous key of its purchases in the lake.
    pub customer_key: String,
    /// When it was imported.
    pub added_at: String,
}

/// The one rule of a consent's current state, as SQL on the row `c` of `consents`: the
/// latest event of its customer and purpose by when it happened (`at`), the later recorded
/// first among events of the same instant. The single customer view, the export, the plan
/// and the import all decide by it.
pub(crate) const CURRENT_CONSENT: &str = "NOT EXISTS (SELECT 1 FROM consents d WHERE d.customer_id = c.customer_id \
     AND d.purpose = c.purpose AND (d.at > c.at OR (d.at = c.at AND d.id > c.id)))";

/// One consent event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConsentEvent {
    /// Purpose or channel.
    pub purpose: String,
    /// Given (true) or withdrawn (false).
    pub granted: bool,
    /// Version of the privacy policy it refers to.
    pub policy_version: String,
    /// When.
    pub at: String,
    /// Where it came from (an import id, `app`, `back-office`…).
    pub source: String,
}

/// Everything the store holds about a customer.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerView {
    /// The customer (the surviving registration).
    pub id: i64,
    /// Its registrations, surviving first.
    pub registrations: Vec<Registration>,
    /// Current consent per purpose (the latest event).
    pub consents: Vec<ConsentEvent>,
    /// Every consent event, oldest first.
    pub consent_history: Vec<ConsentEvent>,
    /// Merges that involve the customer: (survivor, merged, score, evidence, at, undone at).
    pub merges: Vec<(i64, i64, f64, String, String, Option<String>)>,
}

impl Store {
    pub(crate) async fn registrations_of(&self, customer: i64) -> Result<Vec<i64>, Error> {
        let mut ids = vec![customer];
        let mut i = 0;
        while i < ids.len() {
            let more: Vec<(i64,)> = sqlx::query_as("SELECT id FROM customers WHERE merged_into = $1 ORDER BY id")
                .bind(ids[i])
                .fetch_all(&self.pool)
                .await?;
            ids.extend(more.into_iter().map(|r| r.0));
            i += 1;
        }
        Ok(ids)
    }

    /// The single customer view of the customer a reference names.
    pub async fn view(&self, reference: &str) -> Result<CustomerView, Error> {
        let id = self.resolve(reference).await?;
        let ids = self.registrations_of(id).await?;
        let mut registrations = Vec::new();
        for rid in &ids {
            type Row = (String, Option<Vec<u8>>, Option<Vec<u8>>, Option<String>);
            let (token, wrapped, sealed, erased_at): Row =
                sqlx::query_as("SELECT token, wrapped_key, pii, erased_at FROM customers WHERE id = $1")
                    .bind(rid)
                    .fetch_one(&self.pool)
                    .await?;
            let (pii, dk) = match (wrapped, sealed) {
                (Some(w), Some(s)) => {
                    let dk = self.key.unwrap(&token, &w)?;
                    let pii: Pii = serde_json::from_slice(&dk.open(&token, &s)?)
                        .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
                    (Some(pii), Some(dk))
                }
                _ => (None, None),
            };
            let card_rows: Vec<(Vec<u8>, String, String)> = sqlx::query_as(
                "SELECT card_sealed, customer_key, added_at FROM cards WHERE origin_customer_id = $1 ORDER BY added_at",
            )
            .bind(rid)
            .fetch_all(&self.pool)
            .await?;
            let mut cards = Vec::new();
            for (sealed_card, customer_key, added_at) in card_rows {
                let card = match &dk {
                    Some(dk) => String::from_utf8_lossy(&dk.open(&token, &sealed_card)?).into_owned(),
                    None => continue,
                };
                cards.push(Card { card, customer_key, added_at });
            }
            registrations.push(Registration { id: *rid, pii, erased_at, cards });
        }
        let consent_history = self.consent_history(&ids).await?;
        let mut consents: Vec<ConsentEvent> = Vec::new();
        for p in Purpose::ALL {
            if let Some(last) = consent_history.iter().rev().find(|e| e.purpose == p.as_str()) {
                consents.push(last.clone());
            }
        }
        let mut merges = Vec::new();
        for rid in &ids {
            let rows: Vec<(i64, i64, f64, String, String, Option<String>)> =
                sqlx::query_as("SELECT survivor_id, merged_id, score, evidence, at, undone_at FROM merges WHERE merged_id = $1 ORDER BY id").bind(rid).fetch_all(&self.pool).await?;
            merges.extend(rows);
        }
        Ok(CustomerView { id, registrations, consents, consent_history, merges })
    }

    /// The events of a registration, in the order of [`CURRENT_CONSENT`] (the last of a
    /// purpose is its current state).
    async fn consent_history(&self, ids: &[i64]) -> Result<Vec<ConsentEvent>, Error> {
        let mut out: Vec<(i64, ConsentEvent)> = Vec::new();
        for rid in ids {
            let rows: Vec<(i64, String, i64, String, String, String)> = sqlx::query_as(
                "SELECT id, purpose, granted, policy_version, at, source FROM consents WHERE customer_id = $1",
            )
            .bind(rid)
            .fetch_all(&self.pool)
            .await?;
            out.extend(rows.into_iter().map(|(id, purpose, granted, policy_version, at, source)| {
                (id, ConsentEvent { purpose, granted: granted != 0, policy_version, at, source })
            }));
        }
        out.sort_by(|a, b| a.1.at.cmp(&b.1.at).then(a.0.cmp(&b.0)));
        Ok(out.into_iter().map(|(_, e)| e).collect())
    }

    /// Every card with its current customer and lake key (for reconciliation and evaluation).
    pub async fn cards(&self) -> Result<Vec<(i64, String, String)>, Error> {
        type Row = (i64, i64, String, Option<Vec<u8>>, Vec<u8>, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT k.customer_id, c.id, c.token, c.wrapped_key, k.card_sealed, k.customer_key FROM cards k JOIN customers c ON c.id = k.origin_customer_id ORDER BY k.customer_id, c.id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (customer, _origin, token, wrapped, sealed, key) in rows {
            let Some(wrapped) = wrapped else { continue };
            let dk = self.key.unwrap(&token, &wrapped)?;
            out.push((customer, String::from_utf8_lossy(&dk.open(&token, &sealed)?).into_owned(), key));
        }
        Ok(out)
    }

    /// Every card's lake key with its customer's current consents (the latest event per
    /// purpose; a purpose never recorded is absent, which means not granted).
    pub async fn consents_by_key(&self) -> Result<Vec<(String, Vec<(Purpose, bool)>)>, Error> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT k.customer_key, c.purpose, c.granted FROM cards k JOIN consents c ON c.customer_id = k.customer_id \
             WHERE {CURRENT_CONSENT} ORDER BY k.customer_key"
        )))
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(String, Vec<(Purpose, bool)>)> = Vec::new();
        for (key, purpose, granted) in rows {
            let Some(purpose) = Purpose::parse(&purpose) else { continue };
            match out.last_mut() {
                Some((k, list)) if *k == key => list.push((purpose, granted != 0)),
                _ => out.push((key, vec![(purpose, granted != 0)])),
            }
        }
        Ok(out)
    }

    /// Records a consent given or withdrawn now for the customer a reference names.
    pub async fn set_consent(
        &self,
        reference: &str,
        purpose: Purpose,
        granted: bool,
        policy_version: &str,
        source: &str,
    ) -> Result<(), Error> {
        let id = self.resolve(reference).await?;
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO consents (customer_id, purpose, granted, policy_version, at, source) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(purpose.as_str())
            .bind(i64::from(granted))
            .bind(policy_version)
            .bind(now())
            .bind(source)
            .execute(&mut *tx)
            .await?;
        Store::audit(
            &mut *tx,
            "consent",
            Some(id),
            &format!("{{\"purpose\":\"{}\",\"granted\":{granted}}}", purpose.as_str()),
        )
        .await?;
        let event = serde_json::json!({"customer_id": id, "purpose": purpose.as_str(), "granted": granted});
        Store::emit(&mut tx, "consent.changed", &event).await?;
        // Personal offers follow the profiling consent: the tills reload the customer.
        sqlx::query(
            "INSERT INTO pos_changes (at, kind, customer_key) SELECT $1, 'customer', customer_key FROM cards WHERE customer_id = $2",
        )
        .bind(now())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Everything held about a person, as JSON (their right of access). Recorded in the audit log.
    pub async fn export(&self, reference: &str) -> Result<serde_json::Value, Error> {
        let view = self.view(reference).await?;
        let audit: Vec<(String, String, String)> =
            sqlx::query_as("SELECT at, action, details FROM audit WHERE customer_id = $1 ORDER BY id")
                .bind(view.id)
                .fetch_all(&self.pool)
                .await?;
        // The app: accounts (never their password's hash), tickets with their messages, orders.
        let mut accounts = Vec::new();
        let mut tickets = Vec::new();
        let mut orders = Vec::new();
        for r in &view.registrations {
            let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT created_at, policy_version, store_id FROM app_accounts WHERE customer_id = $1 ORDER BY id",
            )
            .bind(r.id)
            .fetch_all(&self.pool)
            .await?;
            accounts.extend(rows.into_iter().map(|(created_at, policy_version, store_id)| {
                serde_json::json!({"created_at": created_at, "policy_version": policy_version, "store_id": store_id})
            }));
            if r.pii.is_some() {
                for t in self.tickets(Some(r.id), None).await? {
                    tickets.push(self.ticket(t.id).await?);
                }
            }
            // Click-and-collect orders, with their lines as placed and as picked.
            let f = crate::orders::OrderFilter { customer_id: Some(r.id), ..Default::default() };
            for o in self.orders(&f).await? {
                let lines: serde_json::Value = serde_json::from_str(&o.lines).unwrap_or_default();
                orders.push(serde_json::json!({
                    "id": o.id, "store_id": o.store_id, "pickup_starts_at": o.slot.starts_at, "state": o.state,
                    "placed_at": o.placed_at, "lines": lines, "total_cents": o.total_cents, "collected_at": o.collected_at,
                }));
            }
        }
        Store::audit(&self.pool, "export", Some(view.id), "{}").await?;
        let mut v = serde_json::to_value(&view).expect("the view serialises");
        v["app_accounts"] = serde_json::json!(accounts);
        v["orders"] = serde_json::json!(orders);
        v["tickets"] = serde_json::to_value(&tickets).expect("tickets serialise");
        v["audit"] = serde_json::json!(
            audit
                .into_iter()
                .map(|(at, action, details)| serde_json::json!({"at": at, "action": action, "details": details}))
                .collect::<Vec<_>>()
        );
        Ok(v)
    }

    /// Erases the customer a reference names, with every registration merged into them:
    /// destroys their keys and sealed data, deletes their cards (the link to the lake),
    /// their published profiles and due items, their offers and campaign memberships, keeps
    /// consent events (which say nothing of the person once unlinked). Their pseudonymous
    /// keys are listed in [`Store::pending_erasures`] until the files holding their history
    /// are rewritten ([`Store::erasures_done`]). Returns the customer id.
    pub async fn erase(&self, reference: &str) -> Result<i64, Error> {
        let id = self.resolve(reference).await?;
        let ids = self.registrations_of(id).await?;
        // The ad platforms hold this person's hashed contacts from earlier audiences: their
        // hashes are kept for the suppression list before the contacts are destroyed.
        let mut suppressed = Vec::new();
        for rid in &ids {
            if let Some(pii) = self.pii_of(*rid).await? {
                let s = crate::audiences::Suppressed::of(pii.email.as_deref(), pii.phone.as_deref());
                if s.email_sha256.is_some() || s.phone_plus_sha256.is_some() {
                    suppressed.push(s);
                }
            }
        }
        let stamp = now();
        let mut tx = self.write_tx().await?;
        Store::keep_suppressed(&mut tx, &suppressed).await?;
        for rid in &ids {
            sqlx::query(
                "UPDATE customers SET wrapped_key = NULL, pii = NULL, email_hash = NULL, phone_hash = NULL, tax_code_hash = NULL, \
                 birth_block = NULL, name_block = NULL, erased_at = $1, updated_at = $1 WHERE id = $2",
            )
            .bind(&stamp)
            .bind(rid)
            .execute(&mut *tx)
            .await?;
            for table in ["profiles", "due_items", "offers", "campaign_members"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE customer_key IN \
                     (SELECT customer_key FROM cards WHERE origin_customer_id = $1 OR customer_id = $1)"
                )))
                .bind(rid)
                .execute(&mut *tx)
                .await?;
            }
            // Receipts confirmed at a till stay (they are the chain's sales), unlinked.
            sqlx::query(
                "UPDATE pos_receipts SET customer_key = NULL WHERE customer_key IN \
                 (SELECT customer_key FROM cards WHERE origin_customer_id = $1 OR customer_id = $1)",
            )
            .bind(rid)
            .execute(&mut *tx)
            .await?;
            // Survey scores stay in the KPIs, no longer linked to anyone, without their text.
            sqlx::query(
                "UPDATE survey_answers SET customer_key = NULL, comment = NULL WHERE customer_key IN \
                 (SELECT customer_key FROM cards WHERE origin_customer_id = $1 OR customer_id = $1)",
            )
            .bind(rid)
            .execute(&mut *tx)
            .await?;
            // The card's lookup hash stays, so a lookup of it says "erased"; the key goes
            // on the list of histories still to cut from the lake and the model files.
            sqlx::query(
                "INSERT INTO erased_cards (card_hash, erased_at) SELECT card_hash, $1 FROM cards \
                 WHERE origin_customer_id = $2 OR customer_id = $2 ON CONFLICT (card_hash) DO NOTHING",
            )
            .bind(&stamp)
            .bind(rid)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO erasures_pending (customer_key, erased_at) SELECT DISTINCT customer_key, $1 FROM cards \
                 WHERE origin_customer_id = $2 OR customer_id = $2 ON CONFLICT (customer_key) DO NOTHING",
            )
            .bind(&stamp)
            .bind(rid)
            .execute(&mut *tx)
            .await?;
            // The app: the account, its sessions and codes, and the tickets (sealed with the
            // key just destroyed, deleted all the same).
            for sql in [
                "DELETE FROM app_sessions WHERE account_id IN (SELECT id FROM app_accounts WHERE customer_id = $1)",
                "DELETE FROM app_codes WHERE account_id IN (SELECT id FROM app_accounts WHERE customer_id = $1)",
                "DELETE FROM app_accounts WHERE customer_id = $1",
                "DELETE FROM ticket_messages WHERE ticket_id IN (SELECT id FROM tickets WHERE customer_id = $1)",
                "DELETE FROM tickets WHERE customer_id = $1",
                // Click-and-collect: open orders give their places back, then every order goes.
                "UPDATE pickup_slots SET taken = taken - (SELECT COUNT(*) FROM orders o WHERE o.slot_id = pickup_slots.id \
                 AND o.customer_id = $1 AND o.state IN ('placed', 'picking', 'ready')) \
                 WHERE id IN (SELECT slot_id FROM orders WHERE customer_id = $1)",
                "DELETE FROM orders WHERE customer_id = $1",
            ] {
                sqlx::query(sql).bind(rid).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM cards WHERE origin_customer_id = $1 OR customer_id = $1")
                .bind(rid)
                .execute(&mut *tx)
                .await?;
        }
        Store::audit(&mut *tx, "erase", Some(id), &format!("{{\"registrations\":{}}}", ids.len())).await?;
        Store::emit(&mut tx, "customer.erased", &serde_json::json!({"customer_id": id})).await?;
        Store::pos_changed(&mut *tx, "all", None).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The pseudonymous keys of erased customers whose history is still in the lake or the
    /// model files.
    pub async fn pending_erasures(&self) -> Result<Vec<String>, Error> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT customer_key FROM erasures_pending ORDER BY customer_key")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Marks these keys' history as cut from every file: they are forgotten. A key that
    /// is a card's again by then (a new registration of an erased card) keeps only the
    /// history after it.
    pub async fn erasures_done(&self, keys: &[String]) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        for k in keys {
            sqlx::query("DELETE FROM erasures_pending WHERE customer_key = $1").bind(k).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
