//! The shoppers' app in the store: accounts and their sessions, linking a card with a code,
//! privacy policies by version, the chain's promotions (the flyer), and tickets with a store.
//!
//! An account is known by the keyed hash of its e-mail; the e-mail itself lives only in the
//! customer's sealed personal data. A new account with a new digital card is one
//! registration (a customer row, its card, its consents) written in one transaction. An
//! existing card is linked only once the code sent to the contact on file comes back: until
//! then the account holds the card's hash and no customer. Tickets are sealed with their
//! customer's data key, so erasing the customer shreds them with the rest.

use crate::privacy::CURRENT_CONSENT;
use crate::{Error, ErrorKind, Pii, Purpose, Store, now};
use serde::{Deserialize, Serialize};

/// A shopper's account.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// Its id.
    pub id: i64,
    /// The customer it is (a registration id; merges are followed when it is used), none
    /// while an existing card waits for its code.
    pub customer_id: Option<i64>,
    /// The privacy policy version last accepted.
    pub policy_version: String,
    /// The favourite store.
    pub store_id: Option<String>,
    /// When it was created.
    pub created_at: String,
}

/// A promotion of the chain (the flyer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    /// The product.
    pub sku: String,
    /// What the flyer says.
    pub title: String,
    /// The promotional price, cents.
    pub price_cents: i64,
    /// The regular price, cents, when shown.
    #[serde(default)]
    pub was_cents: Option<i64>,
    /// First day (YYYY-MM-DD, the chain's time zone).
    pub valid_from: String,
    /// Last day, inclusive.
    pub valid_to: String,
}

/// A ticket with a store.
#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    /// Its id.
    pub id: i64,
    /// The customer.
    pub customer_id: i64,
    /// The store.
    pub store_id: String,
    /// What it is about.
    pub subject: String,
    /// `open` (waiting for the store), `answered` (waiting for the shopper) or `closed`.
    pub state: String,
    /// Opened.
    pub created_at: String,
    /// Last message or change.
    pub updated_at: String,
    /// Closed.
    pub closed_at: Option<String>,
    /// Messages, oldest first (empty in lists).
    pub messages: Vec<TicketMessage>,
}

/// A message of a ticket.
#[derive(Debug, Clone, Serialize)]
pub struct TicketMessage {
    /// `shopper` or `store`.
    pub author: String,
    /// The text.
    pub body: String,
    /// When.
    pub at: String,
}

/// The consents given with a registration: (purpose, granted).
pub type Consents = Vec<(Purpose, bool)>;

/// The SQL condition, on an offer `o`, that it may reach its customer now: a personal
/// offer (built from their purchases) needs the profiling consent as it stands today, so a
/// withdrawal takes it off the app and the tills at once.
pub const OFFER_ALLOWED: &str = "(o.personal = 0 OR EXISTS (SELECT 1 FROM cards pk JOIN consents c \
     ON c.customer_id = pk.customer_id WHERE pk.customer_key = o.customer_key AND c.purpose = 'profiling' \
     AND c.granted = 1 AND NOT EXISTS (SELECT 1 FROM consents d WHERE d.customer_id = c.customer_id \
     AND d.purpose = c.purpose AND (d.at > c.at OR (d.at = c.at AND d.id > c.id)))))";

const ACCOUNT_COLUMNS: &str = "id, customer_id, policy_version, store_id, created_at";

type AccountRow = (i64, Option<i64>, String, Option<String>, String);

fn account((id, customer_id, policy_version, store_id, created_at): AccountRow) -> Account {
    Account { id, customer_id, policy_version, store_id, created_at }
}

impl Store {
    /// The keyed hash an account's e-mail is found by.
    pub fn account_lookup(&self, email: &str) -> String {
        self.key.lookup("app_email", email)
    }

    /// Creates an account with a new digital card: a registration (sealed personal data,
    /// the card and its lake key, the consents given, source `app`) and the account, in one
    /// transaction. Fails with `conflict` when the e-mail has an account.
    #[allow(clippy::too_many_arguments)]
    pub async fn register_new_card(
        &self,
        email: &str,
        password_hash: &str,
        card: &str,
        customer_key: &str,
        consents: &Consents,
        policy_version: &str,
    ) -> Result<Account, Error> {
        let email_hash = self.account_lookup(email);
        let stamp = now();
        let mut tx = self.write_tx().await?;
        self.email_free(&mut tx, &email_hash).await?;
        let pii =
            Pii { email: Some(email.to_string()), registered_at: Some(stamp[..10].to_string()), ..Pii::default() };
        let mut t = [0u8; 16];
        rand::fill(&mut t);
        let token = hex::encode(t);
        let (dk, wrapped) = self.key.new_data_key(&token);
        let plain = serde_json::to_vec(&pii).expect("PII serialises");
        let [e, p, tax, birth, name] = crate::customers::hashes(self, &pii);
        let (customer_id,): (i64,) = sqlx::query_as(
            "INSERT INTO customers (token, created_at, updated_at, wrapped_key, pii, email_hash, phone_hash, tax_code_hash, birth_block, name_block) \
             VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(&token)
        .bind(&stamp)
        .bind(wrapped)
        .bind(dk.seal(&token, &plain))
        .bind(e)
        .bind(p)
        .bind(tax)
        .bind(birth)
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO cards (card_hash, customer_id, origin_customer_id, customer_key, card_sealed, added_at) VALUES ($1, $2, $2, $3, $4, $5)",
        )
        .bind(self.card_lookup(card))
        .bind(customer_id)
        .bind(customer_key)
        .bind(dk.seal(&token, card.as_bytes()))
        .bind(&stamp)
        .execute(&mut *tx)
        .await?;
        record_consents(&mut tx, customer_id, consents, policy_version, &stamp).await?;
        let row: AccountRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO app_accounts (email_hash, password_hash, customer_id, policy_version, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {ACCOUNT_COLUMNS}"
        )))
        .bind(&email_hash)
        .bind(password_hash)
        .bind(customer_id)
        .bind(policy_version)
        .bind(&stamp)
        .fetch_one(&mut *tx)
        .await
        .map_err(email_taken)?;
        Store::audit(&mut *tx, "app_register", Some(customer_id), "{\"card\":\"new\"}").await?;
        Store::pos_changed(&mut *tx, "customer", Some(customer_key)).await?;
        tx.commit().await?;
        Ok(account(row))
    }

    async fn email_free(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>, email_hash: &str) -> Result<(), Error> {
        let taken: Option<(i64,)> = sqlx::query_as("SELECT id FROM app_accounts WHERE email_hash = $1")
            .bind(email_hash)
            .fetch_optional(&mut **tx)
            .await?;
        if taken.is_some() {
            return Err(email_taken_error());
        }
        Ok(())
    }

    /// Creates an account waiting to link an existing card: the code's hash is kept (with
    /// the consents, recorded when it is confirmed), and a message with the code goes to the
    /// outbox for the contact on file, in the same transaction. Returns the account and
    /// the registration holding the card.
    #[allow(clippy::too_many_arguments)]
    pub async fn register_existing_card(
        &self,
        email: &str,
        password_hash: &str,
        card: &str,
        consents: &Consents,
        policy_version: &str,
        code: &str,
        expires_at: &str,
    ) -> Result<Account, Error> {
        let card_hash = self.card_lookup(card);
        let holder: Option<(i64,)> = sqlx::query_as("SELECT origin_customer_id FROM cards WHERE card_hash = $1")
            .bind(&card_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some((holder,)) = holder else {
            return Err(Error::new(ErrorKind::NotFound, "no card with this number: check it, or ask for a new one"));
        };
        let contact = self.contact_of(holder).await?;
        let channel = match (&contact.email, &contact.phone) {
            (Some(_), _) => "email",
            (None, Some(_)) => "sms",
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    "this card has no e-mail or phone on file to send a code to: ask at your store",
                ));
            }
        };
        let email_hash = self.account_lookup(email);
        let stamp = now();
        let mut tx = self.write_tx().await?;
        self.email_free(&mut tx, &email_hash).await?;
        let row: AccountRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO app_accounts (email_hash, password_hash, pending_card_hash, policy_version, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {ACCOUNT_COLUMNS}"
        )))
        .bind(&email_hash)
        .bind(password_hash)
        .bind(&card_hash)
        .bind(policy_version)
        .bind(&stamp)
        .fetch_one(&mut *tx)
        .await
        .map_err(email_taken)?;
        let consents_text = serde_json::to_string(consents).expect("consents serialise");
        sqlx::query(
            "INSERT INTO app_codes (account_id, card_hash, code_hash, expires_at, attempts, consents) VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(row.0)
        .bind(&card_hash)
        .bind(crate::pos::digest(code))
        .bind(expires_at)
        .bind(consents_text)
        .execute(&mut *tx)
        .await?;
        // The recipient is the customer, not their address: whoever delivers opens the
        // contact on file at sending time, so the outbox holds no personal data.
        sqlx::query("INSERT INTO outbox (created_at, kind, recipient, subject, body) VALUES ($1, $2, $3, $4, $5)")
            .bind(&stamp)
            .bind(channel)
            .bind(format!("customer:#{holder}"))
            .bind("Your code to link your card to the app")
            .bind(format!("Your code is {code}. It links your loyalty card to the app; it works for 30 minutes. If you did not ask for it, ignore this message."))
            .execute(&mut *tx)
            .await?;
        Store::audit(&mut *tx, "app_link_requested", Some(holder), "{}").await?;
        tx.commit().await?;
        Ok(account(row))
    }

    async fn contact_of(&self, customer: i64) -> Result<Pii, Error> {
        type Row = (String, Option<Vec<u8>>, Option<Vec<u8>>);
        let (token, wrapped, sealed): Row =
            sqlx::query_as("SELECT token, wrapped_key, pii FROM customers WHERE id = $1")
                .bind(customer)
                .fetch_one(&self.pool)
                .await?;
        match (wrapped, sealed) {
            (Some(w), Some(s)) => {
                let dk = self.key.unwrap(&token, &w)?;
                serde_json::from_slice(&dk.open(&token, &s)?)
                    .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))
            }
            _ => Ok(Pii::default()),
        }
    }

    /// Confirms the code sent for `card`: links the waiting account to the card's customer
    /// and records the consents given at registration. A wrong code counts an attempt;
    /// after five, or once expired, the code no longer works.
    pub async fn confirm_card(&self, card: &str, code: &str) -> Result<Account, Error> {
        let card_hash = self.card_lookup(card);
        let mut tx = self.write_tx().await?;
        let row: Option<(i64, String, String, i64, String)> = sqlx::query_as(
            "SELECT account_id, code_hash, expires_at, attempts, consents FROM app_codes WHERE card_hash = $1 ORDER BY account_id DESC LIMIT 1",
        )
        .bind(&card_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let refused = || Error::new(ErrorKind::Input, "this code is not right, or no longer valid: ask for a new one");
        let Some((account_id, code_hash, expires_at, attempts, consents)) = row else {
            return Err(refused());
        };
        let stamp = now();
        if attempts >= 5 || expires_at < stamp {
            return Err(refused());
        }
        if !constant_eq(&crate::pos::digest(code.trim()), &code_hash) {
            sqlx::query("UPDATE app_codes SET attempts = attempts + 1 WHERE account_id = $1")
                .bind(account_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Err(refused());
        }
        let (holder,): (i64,) = sqlx::query_as("SELECT customer_id FROM cards WHERE card_hash = $1")
            .bind(&card_hash)
            .fetch_one(&mut *tx)
            .await?;
        let row: AccountRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE app_accounts SET customer_id = $1, pending_card_hash = NULL WHERE id = $2 RETURNING {ACCOUNT_COLUMNS}"
        )))
        .bind(holder)
        .bind(account_id)
        .fetch_one(&mut *tx)
        .await?;
        let consents: Consents = serde_json::from_str(&consents).unwrap_or_default();
        record_consents(&mut tx, holder, &consents, &row.2, &stamp).await?;
        sqlx::query("DELETE FROM app_codes WHERE account_id = $1").bind(account_id).execute(&mut *tx).await?;
        Store::audit(&mut *tx, "app_link_confirmed", Some(holder), "{}").await?;
        changed_customer(&mut tx, holder).await?;
        tx.commit().await?;
        Ok(account(row))
    }

    /// The account of an e-mail with its password hash.
    pub async fn account_by_email(&self, email: &str) -> Result<Option<(Account, String)>, Error> {
        type WithHash = (i64, Option<i64>, String, Option<String>, String, String);
        let row: Option<WithHash> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ACCOUNT_COLUMNS}, password_hash FROM app_accounts WHERE email_hash = $1"
        )))
        .bind(self.account_lookup(email))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(a, b, c, d, e, hash)| (account((a, b, c, d, e)), hash)))
    }

    /// Opens a shopper's session (`token_hash`: the SHA-256 of the token).
    pub async fn open_app_session(&self, token_hash: &str, account_id: i64, expires_at: &str) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO app_sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(now())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account of a live session.
    pub async fn app_session(&self, token_hash: &str) -> Result<Option<Account>, Error> {
        let row: Option<AccountRow> = sqlx::query_as(
            "SELECT a.id, a.customer_id, a.policy_version, a.store_id, a.created_at FROM app_sessions s \
             JOIN app_accounts a ON a.id = s.account_id WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(account))
    }

    /// Ends a shopper's session.
    pub async fn end_app_session(&self, token_hash: &str) -> Result<(), Error> {
        sqlx::query("UPDATE app_sessions SET ended_at = $1 WHERE token_hash = $2")
            .bind(now())
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets an account's favourite store.
    pub async fn set_favourite_store(&self, account_id: i64, store_id: Option<&str>) -> Result<(), Error> {
        sqlx::query("UPDATE app_accounts SET store_id = $1 WHERE id = $2")
            .bind(store_id)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records that an account accepted a privacy policy version.
    pub async fn accept_policy(&self, account_id: i64, version: &str) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        let r = sqlx::query("UPDATE app_accounts SET policy_version = $1 WHERE id = $2 RETURNING customer_id")
            .bind(version)
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
        let customer: Option<i64> = match r {
            Some(row) => sqlx::Row::try_get(&row, 0)?,
            None => None,
        };
        Store::audit(&mut *tx, "privacy_accepted", customer, &serde_json::json!({"version": version}).to_string())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records consents given or withdrawn now for a customer (`source`: `app`,
    /// `back-office`…), one event per purpose whose state changes, in one transaction;
    /// the tills' wallets reload the customer. Returns the purposes changed.
    pub async fn set_consents(
        &self,
        customer: i64,
        consents: &Consents,
        policy_version: &str,
        source: &str,
    ) -> Result<Vec<Purpose>, Error> {
        let mut tx = self.write_tx().await?;
        let current: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT c.purpose, c.granted FROM consents c WHERE c.customer_id = $1 AND {CURRENT_CONSENT}"
        )))
        .bind(customer)
        .fetch_all(&mut *tx)
        .await?;
        let changed: Consents = consents
            .iter()
            .filter(|(p, g)| {
                let now = current.iter().find(|(q, _)| q == p.as_str()).is_some_and(|(_, x)| *x != 0);
                now != *g
            })
            .copied()
            .collect();
        let stamp = now();
        for (p, g) in &changed {
            sqlx::query("INSERT INTO consents (customer_id, purpose, granted, policy_version, at, source) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(customer)
                .bind(p.as_str())
                .bind(i64::from(*g))
                .bind(policy_version)
                .bind(&stamp)
                .bind(source)
                .execute(&mut *tx)
                .await?;
            let event = serde_json::json!({"customer_id": customer, "purpose": p.as_str(), "granted": g});
            Store::audit(&mut *tx, "consent", Some(customer), &event.to_string()).await?;
            Store::emit(&mut tx, "consent.changed", &event).await?;
        }
        changed_customer(&mut tx, customer).await?;
        tx.commit().await?;
        Ok(changed.into_iter().map(|(p, _)| p).collect())
    }

    /// Publishes a version of the privacy policy; it becomes the current one.
    pub async fn publish_privacy_policy(&self, version: &str, body: &str) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        let r = sqlx::query("INSERT INTO privacy_policies (version, body, published_at) VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING")
            .bind(version)
            .bind(body)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("version {version:?} was published already; a change is a new version"),
            ));
        }
        Store::audit(&mut *tx, "privacy_published", None, &serde_json::json!({"version": version}).to_string()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every published version of the privacy policy, newest first: (version, published
    /// at, app accounts whose accepted version it is).
    pub async fn privacy_policies(&self) -> Result<Vec<(String, String, i64)>, Error> {
        Ok(sqlx::query_as(
            "SELECT p.version, p.published_at, (SELECT COUNT(*) FROM app_accounts a WHERE a.policy_version = p.version) \
             FROM privacy_policies p ORDER BY p.published_at DESC, p.version DESC",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The current privacy policy: (version, text, published at).
    pub async fn privacy_policy(&self) -> Result<Option<(String, String, String)>, Error> {
        Ok(sqlx::query_as(
            "SELECT version, body, published_at FROM privacy_policies ORDER BY published_at DESC, version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Adds promotions (or replaces one of the same product and first day). Returns how
    /// many were written.
    pub async fn add_promotions(&self, promotions: &[Promotion]) -> Result<u64, Error> {
        let mut tx = self.write_tx().await?;
        let stamp = now();
        for p in promotions {
            sqlx::query("DELETE FROM promotions WHERE sku = $1 AND valid_from = $2")
                .bind(&p.sku)
                .bind(&p.valid_from)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO promotions (sku, title, price_cents, was_cents, valid_from, valid_to, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(&p.sku)
                .bind(&p.title)
                .bind(p.price_cents)
                .bind(p.was_cents)
                .bind(&p.valid_from)
                .bind(&p.valid_to)
                .bind(&stamp)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(promotions.len() as u64)
    }

    /// The promotions valid on `day`.
    pub async fn promotions_on(&self, day: &str) -> Result<Vec<Promotion>, Error> {
        let rows: Vec<(String, String, i64, Option<i64>, String, String)> = sqlx::query_as(
            "SELECT sku, title, price_cents, was_cents, valid_from, valid_to FROM promotions \
             WHERE valid_from <= $1 AND valid_to >= $1 ORDER BY sku",
        )
        .bind(day)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(sku, title, price_cents, was_cents, valid_from, valid_to)| Promotion {
                sku,
                title,
                price_cents,
                was_cents,
                valid_from,
                valid_to,
            })
            .collect())
    }

    /// The products a customer is due to buy again, with their due day, and the categories
    /// they buy (from the model's published habits).
    pub async fn habits_of(&self, customer: i64) -> Result<Vec<(String, String, String)>, Error> {
        Ok(sqlx::query_as(
            "SELECT d.sku, d.category, d.next_due_date FROM due_items d JOIN cards k ON k.customer_key = d.customer_key \
             WHERE k.customer_id = $1 ORDER BY d.next_due_date",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn data_key_of(&self, customer: i64) -> Result<(String, crate::crypto::DataKey), Error> {
        let (token, wrapped): (String, Option<Vec<u8>>) =
            sqlx::query_as("SELECT token, wrapped_key FROM customers WHERE id = $1")
                .bind(customer)
                .fetch_one(&self.pool)
                .await?;
        let wrapped = wrapped.ok_or_else(|| Error::new(ErrorKind::NotFound, "this customer was erased"))?;
        Ok((token.clone(), self.key.unwrap(&token, &wrapped)?))
    }

    /// Opens a ticket with a store, with its first message.
    pub async fn open_ticket(&self, customer: i64, store_id: &str, subject: &str, body: &str) -> Result<i64, Error> {
        let (token, dk) = self.data_key_of(customer).await?;
        let stamp = now();
        let mut tx = self.write_tx().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO tickets (customer_id, store_id, subject, state, created_at, updated_at) VALUES ($1, $2, $3, 'open', $4, $4) RETURNING id",
        )
        .bind(customer)
        .bind(store_id)
        .bind(dk.seal(&token, subject.as_bytes()))
        .bind(&stamp)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO ticket_messages (ticket_id, author, body, at) VALUES ($1, 'shopper', $2, $3)")
            .bind(id)
            .bind(dk.seal(&token, body.as_bytes()))
            .bind(&stamp)
            .execute(&mut *tx)
            .await?;
        Store::emit(&mut tx, "ticket.opened", &serde_json::json!({"ticket_id": id, "store_id": store_id})).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Tickets: of a customer, or of a store (all stores when both are `None`), newest
    /// first, without their messages.
    pub async fn tickets(&self, customer: Option<i64>, store_id: Option<&str>) -> Result<Vec<Ticket>, Error> {
        type Row = (i64, i64, String, Vec<u8>, String, String, String, Option<String>);
        let head = "SELECT id, customer_id, store_id, subject, state, created_at, updated_at, closed_at FROM tickets";
        let tail = "ORDER BY updated_at DESC, id DESC LIMIT 500";
        let rows: Vec<Row> = match (customer, store_id) {
            (Some(c), _) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{head} WHERE customer_id = $1 {tail}")))
                    .bind(c)
                    .fetch_all(&self.pool)
                    .await?
            }
            (None, Some(s)) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{head} WHERE store_id = $1 {tail}")))
                    .bind(s)
                    .fetch_all(&self.pool)
                    .await?
            }
            (None, None) => sqlx::query_as(sqlx::AssertSqlSafe(format!("{head} {tail}"))).fetch_all(&self.pool).await?,
        };
        let mut out = Vec::with_capacity(rows.len());
        for (id, customer_id, store_id, subject, state, created_at, updated_at, closed_at) in rows {
            let (token, dk) = self.data_key_of(customer_id).await?;
            let subject = String::from_utf8_lossy(&dk.open(&token, &subject)?).into_owned();
            out.push(Ticket {
                id,
                customer_id,
                store_id,
                subject,
                state,
                created_at,
                updated_at,
                closed_at,
                messages: Vec::new(),
            });
        }
        Ok(out)
    }

    /// One ticket with its messages.
    pub async fn ticket(&self, id: i64) -> Result<Ticket, Error> {
        type Row = (i64, String, Vec<u8>, String, String, String, Option<String>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT customer_id, store_id, subject, state, created_at, updated_at, closed_at FROM tickets WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some((customer_id, store_id, subject, state, created_at, updated_at, closed_at)) = row else {
            return Err(Error::new(ErrorKind::NotFound, format!("no ticket {id}")));
        };
        let (token, dk) = self.data_key_of(customer_id).await?;
        let rows: Vec<(String, Vec<u8>, String)> =
            sqlx::query_as("SELECT author, body, at FROM ticket_messages WHERE ticket_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
        let mut messages = Vec::new();
        for (author, body, at) in rows {
            let body = String::from_utf8_lossy(&dk.open(&token, &body)?).into_owned();
            messages.push(TicketMessage {
                author: if author == "shopper" { author } else { "store".into() },
                body,
                at,
            });
        }
        Ok(Ticket {
            id,
            customer_id,
            store_id,
            subject: String::from_utf8_lossy(&dk.open(&token, &subject)?).into_owned(),
            state,
            created_at,
            updated_at,
            closed_at,
            messages,
        })
    }

    /// Adds a message to a ticket: from the shopper (`author` "shopper") or from the store
    /// (`author` the staff user's e-mail, kept for the store's own record). A message
    /// reopens nothing closed. `close` closes it after the message.
    pub async fn ticket_message(&self, id: i64, author: &str, body: &str, close: bool) -> Result<Ticket, Error> {
        let ticket = self.ticket(id).await?;
        if ticket.state == "closed" {
            return Err(Error::new(ErrorKind::Conflict, "this ticket is closed: open a new one"));
        }
        let (token, dk) = self.data_key_of(ticket.customer_id).await?;
        let stamp = now();
        let state = if close {
            "closed"
        } else if author == "shopper" {
            "open"
        } else {
            "answered"
        };
        let mut tx = self.write_tx().await?;
        if !body.trim().is_empty() {
            sqlx::query("INSERT INTO ticket_messages (ticket_id, author, body, at) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(author)
                .bind(dk.seal(&token, body.as_bytes()))
                .bind(&stamp)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE tickets SET state = $1, updated_at = $2, closed_at = CASE WHEN $1 = 'closed' THEN $2 ELSE closed_at END WHERE id = $3")
            .bind(state)
            .bind(&stamp)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if author != "shopper" {
            sqlx::query(
                "INSERT INTO outbox (created_at, kind, recipient, subject, body) VALUES ($1, 'app', $2, $3, $4)",
            )
            .bind(&stamp)
            .bind(format!("customer:#{}", ticket.customer_id))
            .bind(if close { "Your ticket was closed" } else { "Your store answered" })
            .bind(format!("Ticket {id}: open the app to read it."))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.ticket(id).await
    }

    /// The customer's latest visit with their card at a till since `since` (YYYY-MM-DD), not
    /// voided and not rated in the app yet: (receipt id, store, day).
    pub async fn visit_to_rate(&self, customer: i64, since: &str) -> Result<Option<(String, String, String)>, Error> {
        Ok(sqlx::query_as(
            "SELECT r.id, r.store_id, r.day FROM pos_receipts r JOIN cards k ON k.customer_key = r.customer_key \
             WHERE k.customer_id = $1 AND r.day >= $2 AND r.state <> 'voided' \
             AND NOT EXISTS (SELECT 1 FROM survey_answers s WHERE s.id LIKE 'app-visit-' || r.id || '-%') \
             ORDER BY r.at DESC, r.id LIMIT 1",
        )
        .bind(customer)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A visit (a receipt confirmed at a till) of the customer's: its store, or none when the
    /// receipt is not theirs.
    pub async fn visit_of(&self, customer: i64, receipt_id: &str) -> Result<Option<String>, Error> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT r.store_id FROM pos_receipts r JOIN cards k ON k.customer_key = r.customer_key \
             WHERE k.customer_id = $1 AND r.id = $2",
        )
        .bind(customer)
        .bind(receipt_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.0))
    }

    /// The customer's lake key of their first card (surveys and tickets are linked by it).
    pub async fn key_of(&self, customer: i64) -> Result<Option<String>, Error> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT customer_key FROM cards WHERE customer_id = $1 ORDER BY added_at LIMIT 1")
                .bind(customer)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// The customer's cards in clear (for the app's barcode).
    pub async fn cards_of(&self, customer: i64) -> Result<Vec<String>, Error> {
        let rows: Vec<(String, Option<Vec<u8>>, Vec<u8>)> = sqlx::query_as(
            "SELECT c.token, c.wrapped_key, k.card_sealed FROM cards k JOIN customers c ON c.id = k.origin_customer_id \
             WHERE k.customer_id = $1 ORDER BY k.added_at",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for (token, wrapped, sealed) in rows {
            let Some(wrapped) = wrapped else { continue };
            let dk = self.key.unwrap(&token, &wrapped)?;
            out.push(String::from_utf8_lossy(&dk.open(&token, &sealed)?).into_owned());
        }
        Ok(out)
    }

    /// Queues a message for a customer (`recipient` `customer:#id`: the contact on file is
    /// opened when it is sent) on `kind` (`email`, `sms`, `app`).
    pub async fn queue_message(&self, kind: &str, recipient: &str, subject: &str, body: &str) -> Result<(), Error> {
        sqlx::query("INSERT INTO outbox (created_at, kind, recipient, subject, body) VALUES ($1, $2, $3, $4, $5)")
            .bind(now())
            .bind(kind)
            .bind(recipient)
            .bind(subject)
            .bind(body)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Customers who may be sent marketing on `channel` now: their current marketing
    /// consent and that channel's are both given, and they hold a card.
    pub async fn marketing_recipients(&self, channel: Purpose) -> Result<Vec<i64>, Error> {
        let given = |purpose: &str| {
            format!(
                "EXISTS (SELECT 1 FROM consents c WHERE c.customer_id = k.customer_id AND c.purpose = '{purpose}' \
                 AND c.granted = 1 AND {CURRENT_CONSENT})"
            )
        };
        let rows: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT k.customer_id FROM cards k WHERE {} AND {} ORDER BY k.customer_id",
            given(Purpose::Marketing.as_str()),
            given(channel.as_str())
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Queues many messages in one transaction: (recipient, subject, body) on `kind`.
    pub async fn queue_messages(&self, kind: &str, messages: &[(String, String, String)]) -> Result<u64, Error> {
        let stamp = now();
        let mut tx = self.write_tx().await?;
        for chunk in messages.chunks(100) {
            let mut sql = String::from("INSERT INTO outbox (created_at, kind, recipient, subject, body) VALUES ");
            for i in 0..chunk.len() {
                let b = i * 3;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("($1, $2, ${}, ${}, ${})", b + 3, b + 4, b + 5));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&stamp).bind(kind);
            for (recipient, subject, body) in chunk {
                q = q.bind(recipient).bind(subject).bind(body);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(messages.len() as u64)
    }

    /// The keyed signature of a flyer link's payload.
    pub fn flyer_mac(&self, payload: &str) -> String {
        self.key.lookup("flyer_link", payload)
    }

    /// The state of a customer's offers: code → (activation required, activated at,
    /// redeemed at).
    pub async fn offer_states(
        &self,
        customer: i64,
    ) -> Result<std::collections::HashMap<String, (bool, Option<String>, Option<String>)>, Error> {
        let rows: Vec<(String, i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT o.code, c.activation_required, o.activated_at, o.redeemed_at FROM offers o \
             JOIN cards k ON k.customer_key = o.customer_key JOIN campaigns c ON c.id = o.campaign_id WHERE k.customer_id = $1",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(code, req, act, red)| (code, (req != 0, act, red))).collect())
    }

    /// Whether a card number is taken (by a card or an erased card).
    pub async fn card_taken(&self, card: &str) -> Result<bool, Error> {
        let h = self.card_lookup(card);
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM cards WHERE card_hash = $1 UNION ALL SELECT 1 FROM erased_cards WHERE card_hash = $1",
        )
        .bind(&h)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}

async fn record_consents(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    customer: i64,
    consents: &Consents,
    policy_version: &str,
    at: &str,
) -> Result<(), Error> {
    for (p, g) in consents {
        sqlx::query("INSERT INTO consents (customer_id, purpose, granted, policy_version, at, source) VALUES ($1, $2, $3, $4, $5, 'app')")
            .bind(customer)
            .bind(p.as_str())
            .bind(i64::from(*g))
            .bind(policy_version)
            .bind(at)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The tills' wallets reload a customer's cards.
async fn changed_customer(tx: &mut sqlx::Transaction<'_, sqlx::Any>, customer: i64) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO pos_changes (at, kind, customer_key) SELECT $1, 'customer', customer_key FROM cards WHERE customer_id = $2",
    )
    .bind(now())
    .bind(customer)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn email_taken_error() -> Error {
    Error::new(ErrorKind::Conflict, "this e-mail has an account already: log in")
}

/// Two registrations of one e-mail at once (PostgreSQL, read committed): both pass the
/// check, the unique index refuses the second, which is the same answer as a late one.
fn email_taken(e: sqlx::Error) -> Error {
    if e.as_database_error().is_some_and(|d| d.is_unique_violation()) { email_taken_error() } else { e.into() }
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
