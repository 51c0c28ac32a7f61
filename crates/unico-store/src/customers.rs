//! Importing a customer master: the same mapping and rejects machinery as receipts, then
//! normalisation, sealing, and one row per registration (card) in the store.
//!
//! A card seen before updates its registration (personal data re-sealed if it changed,
//! consents appended to their history if they changed); a new card creates a registration.
//! Duplicate people are found afterwards by [`crate::dedupe`]. The rejects file of a
//! customer import never holds personal data: values of personal columns are redacted and
//! the reasons are fixed texts (the source file still holds the row at the line given).

use crate::normalise;
use crate::{Error, ErrorKind, Pii, Purpose, Store, now};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use unico_lake::import::{ImportSummary, Reason, RejectsWriter, check_outcome, new_import_id, open_source, resolve};
use unico_lake::mapping::{Dataset, Mapping};
use unico_lake::source::{Row, Value};

const BATCH: usize = 1000;

/// How to import a customer file.
#[derive(Clone)]
pub struct CustomerImportOptions {
    /// The lake's pseudonymiser: a card's lake key is stored with it, so the store can
    /// link a customer to their receipts (and unlink them on erasure).
    pub pseudonymiser: unico_core::Pseudonymiser,
    /// How to read the file.
    pub mapping: Mapping,
    /// Where the rejects file goes.
    pub rejects_dir: PathBuf,
    /// Refuse the import when more than this share of rows is rejected.
    pub max_reject_rate: Option<f64>,
    /// Country of phone numbers written without a prefix.
    pub default_country: phonenumber::country::Id,
    /// Privacy-policy version consents refer to when the file does not say.
    pub policy_version: String,
}

/// One normalised registration from the file.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub card: String,
    pub pii: Pii,
    pub consents: Vec<(Purpose, bool)>,
    pub policy_version: String,
    pub consent_at: String,
}

const PII_COLUMNS: [&str; 10] = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "address",
    "postcode",
    "city",
    "tax_code",
    "registered_at",
];

struct Rejection {
    column: &'static str,
    value: String,
    reason: Reason,
    message: &'static str,
}

fn text(row: &dyn Row, idx: Option<usize>, column: &'static str) -> Result<Option<String>, Rejection> {
    let Some(i) = idx else { return Ok(None) };
    let v = row.get(i).map_err(|_| Rejection {
        column,
        value: String::new(),
        reason: Reason::BadEncoding,
        message: "a byte is not valid in the declared encoding",
    })?;
    if v.is_blank() {
        return Ok(None);
    }
    Ok(Some(match v {
        Value::Text(t) => t.trim().to_string(),
        other => other.display(),
    }))
}

fn parse_row(
    row: &dyn Row,
    cols: &[Option<usize>],
    options: &CustomerImportOptions,
    today: jiff::civil::Date,
) -> Result<Incoming, Rejection> {
    if row.problem().is_some() {
        return Err(Rejection {
            column: "",
            value: String::new(),
            reason: Reason::MalformedRecord,
            message: "wrong number of fields",
        });
    }
    let names = Dataset::Customers.columns();
    let col = |name: &str| cols[names.iter().position(|(n, _)| *n == name).expect("a customers column")];
    let card = text(row, col("customer_id"), "customer_id")?.ok_or(Rejection {
        column: "customer_id",
        value: String::new(),
        reason: Reason::MissingValue,
        message: "customer_id (the card) is empty",
    })?;
    let bad = |column: &'static str, reason: Reason, message: &'static str| Rejection {
        column,
        value: "<personal data>".into(),
        reason,
        message,
    };
    let mut pii = Pii {
        first_name: text(row, col("first_name"), "first_name")?.map(|s| normalise::display_name(&s)),
        last_name: text(row, col("last_name"), "last_name")?.map(|s| normalise::display_name(&s)),
        address: text(row, col("address"), "address")?.map(|s| normalise::clean(&s)),
        city: text(row, col("city"), "city")?.map(|s| normalise::display_name(&s)),
        ..Pii::default()
    };
    if let Some(e) = text(row, col("email"), "email")? {
        pii.email = Some(normalise::email(&e).map_err(|_| bad("email", Reason::BadEmail, "not an e-mail address"))?);
    }
    if let Some(p) = text(row, col("phone"), "phone")? {
        pii.phone = Some(
            normalise::phone(&p, options.default_country)
                .map_err(|_| bad("phone", Reason::BadPhone, "not a valid phone number"))?,
        );
    }
    if let Some(p) = text(row, col("postcode"), "postcode")? {
        pii.postcode = Some(
            normalise::postcode(&p)
                .map_err(|_| bad("postcode", Reason::BadPostcode, "not a postcode (five digits)"))?,
        );
    }
    if let Some(t) = text(row, col("tax_code"), "tax_code")? {
        pii.tax_code = Some(
            normalise::tax_code(&t).map_err(|_| bad("tax_code", Reason::BadTaxCode, "not a valid codice fiscale"))?,
        );
    }
    let format = options.mapping.timestamp_format.as_deref();
    if let Some(d) = text(row, col("birth_date"), "birth_date")? {
        pii.birth_date = Some(
            normalise::birth_date(&d, format, today)
                .map_err(|_| bad("birth_date", Reason::BadDate, "not a plausible birth date"))?
                .to_string(),
        );
    }
    if let Some(d) = text(row, col("registered_at"), "registered_at")? {
        let date = normalise::birth_date(&d, format, today)
            .or_else(|_| d.get(..10).map_or(Err(String::new()), |p| normalise::birth_date(p, None, today)))
            .map_err(|_| Rejection {
                column: "registered_at",
                value: d.clone(),
                reason: Reason::BadDate,
                message: "not a date",
            })?;
        pii.registered_at = Some(date.to_string());
    }
    let mut consents = Vec::new();
    for purpose in Purpose::ALL {
        let name = format!("consent_{}", purpose.as_str());
        let static_name: &'static str = names.iter().find(|(n, _)| *n == name).expect("a consent column").0;
        if let Some(i) = col(static_name) {
            let v = row.get(i).map_err(|_| Rejection {
                column: static_name,
                value: String::new(),
                reason: Reason::BadEncoding,
                message: "a byte is not valid in the declared encoding",
            })?;
            if !v.is_blank() {
                let granted = unico_lake::parse::flag(&v).map_err(|_| Rejection {
                    column: static_name,
                    value: v.display(),
                    reason: Reason::BadFlag,
                    message: "not yes or no",
                })?;
                consents.push((purpose, granted));
            }
        }
    }
    let policy_version = text(row, col("consent_policy_version"), "consent_policy_version")?
        .unwrap_or_else(|| options.policy_version.clone());
    let consent_at = match text(row, col("consent_at"), "consent_at")? {
        None => now(),
        Some(t) => {
            let ts = t
                .parse::<jiff::Timestamp>()
                .or_else(|_| {
                    t.parse::<jiff::civil::Date>().and_then(|d| {
                        jiff::tz::TimeZone::UTC.to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                    })
                })
                .map_err(|_| Rejection {
                    column: "consent_at",
                    value: t.clone(),
                    reason: Reason::BadDate,
                    message: "not a date and time",
                })?;
            // A consent cannot be given in the future: it would outrank every withdrawal
            // until then (a day of clock skew is allowed).
            if ts > jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24) {
                return Err(Rejection {
                    column: "consent_at",
                    value: t.clone(),
                    reason: Reason::BadDate,
                    message: "a consent cannot be dated in the future",
                });
            }
            crate::stamp(ts)
        }
    };
    Ok(Incoming { card, pii, consents, policy_version, consent_at })
}

/// Imports a customer file into the store.
pub async fn import_customers(
    store: &Store,
    path: &Path,
    options: &CustomerImportOptions,
) -> Result<ImportSummary, Error> {
    let import_id = new_import_id(Dataset::Customers);
    let started_at = now();
    let today = jiff::ZonedDateTime::now().date();
    let rejects_path = options.rejects_dir.join(format!("{import_id}.csv"));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Incoming>>(4);

    // The file is read and normalised on its own thread; this task writes the batches.
    let handle = {
        let (path, options) = (path.to_path_buf(), options.clone());
        std::thread::spawn(move || read_file(&path, &options, today, &rejects_path, tx))
    };
    // One transaction for the whole file: an import that fails, goes over its reject limit
    // or is killed leaves the store exactly as it was.
    let mut db = store.write_tx().await?;
    store.bulk_cache(&mut db, true).await?;
    let mut written = WriteOutcome::default();
    let mut write_error = None;
    while let Some(batch) = rx.recv().await {
        if let Err(e) = write_batch(store, &mut db, &batch, &import_id, options, &mut written).await {
            write_error = Some(e);
            break;
        }
    }
    drop(rx); // stops the reader if writing failed
    let read = handle.join().map_err(|_| Error::new(ErrorKind::Internal, "the customer reader panicked"))?;
    if let Some(e) = write_error {
        store.bulk_cache(&mut db, false).await?;
        db.rollback().await?;
        return Err(e);
    }
    let read = match read {
        Ok(r) => r,
        Err(e) => {
            store.bulk_cache(&mut db, false).await?;
            db.rollback().await?;
            return Err(e);
        }
    };
    let summary = ImportSummary {
        import_id: import_id.clone(),
        dataset: "customers".into(),
        file: path.display().to_string(),
        started_at,
        rows_read: read.rows_read,
        rows_imported: written.created,
        rows_already_in_lake: written.unchanged,
        rows_updated: written.updated,
        rejected: read.rejected,
        warnings: Default::default(),
        rejects_file: read.rejects_file.map(|p| p.display().to_string()),
        months: Vec::new(),
    };
    if let Err(e) = check_outcome(&summary, options.max_reject_rate) {
        store.bulk_cache(&mut db, false).await?;
        db.rollback().await?;
        return Err(e.into());
    }
    Store::audit(
        &mut *db,
        "import_customers",
        None,
        &format!("{{\"import_id\":\"{import_id}\",\"created\":{},\"updated\":{}}}", written.created, written.updated),
    )
    .await?;
    // New or changed cards: the tills' wallets reload.
    Store::pos_changed(&mut *db, "all", None).await?;
    store.bulk_cache(&mut db, false).await?;
    db.commit().await?;
    store.analyze().await?;
    Ok(summary)
}

struct ReadOutcome {
    rows_read: u64,
    rejected: std::collections::BTreeMap<String, u64>,
    rejects_file: Option<PathBuf>,
}

#[derive(Default)]
struct WriteOutcome {
    created: u64,
    updated: u64,
    unchanged: u64,
}

fn read_file(
    path: &Path,
    options: &CustomerImportOptions,
    today: jiff::civil::Date,
    rejects_path: &Path,
    tx: tokio::sync::mpsc::Sender<Vec<Incoming>>,
) -> Result<ReadOutcome, Error> {
    let mut source = open_source(path, &options.mapping)?;
    let cols = resolve(Dataset::Customers, &options.mapping, source.columns())?;
    let mut rejects = RejectsWriter::new(rejects_path.to_path_buf());
    // Each card seen, by 128 bits of its SHA-256 (a collision is out of reach at any
    // size), with its line: 24 bytes a record rather than the card itself.
    let mut seen: HashMap<[u8; 16], u64> = HashMap::new();
    let digest = |card: &str| -> [u8; 16] {
        use sha2::Digest;
        sha2::Sha256::digest(card.as_bytes())[..16].try_into().expect("16 bytes")
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut rows_read = 0u64;
    source.for_each(&mut |row| {
        rows_read += 1;
        match parse_row(row, &cols, options, today) {
            Err(r) => {
                let value = if PII_COLUMNS.contains(&r.column) { "<personal data>".to_string() } else { r.value };
                rejects.reject(row.line(), r.column, &value, r.reason, r.message, "")?;
            }
            Ok(inc) => {
                let key = digest(&inc.card);
                if let Some(first) = seen.get(&key) {
                    let msg = format!("the same card appears at line {first}");
                    rejects.reject(row.line(), "customer_id", "", Reason::DuplicateKey, &msg, "")?;
                } else {
                    seen.insert(key, row.line());
                    batch.push(inc);
                    if batch.len() >= BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if tx.blocking_send(full).is_err() {
                            return Err(unico_lake::Error::new(
                                unico_lake::ErrorKind::Internal,
                                "the store writer stopped",
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    })?;
    if !batch.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    drop(tx);
    let (rejects_file, rejected) = rejects.finish()?;
    Ok(ReadOutcome { rows_read, rejected, rejects_file })
}

/// The keyed lookups and blocking keys of a registration.
pub(crate) fn hashes(store: &Store, pii: &Pii) -> [Option<String>; 5] {
    let k = &store.key;
    [
        pii.email.as_ref().map(|e| k.lookup("email", e)),
        pii.phone.as_ref().map(|p| k.lookup("phone", p)),
        pii.tax_code.as_ref().map(|t| k.lookup("tax_code", t)),
        // Birth date with the surname's initial: about one person a block even in a base of
        // millions (a birth date alone gathers dozens, and all their pairs).
        pii.birth_date.as_ref().map(|b| {
            let initial = pii.last_name.as_deref().map(normalise::fold).and_then(|l| l.chars().next()).unwrap_or('-');
            k.lookup("birth", &format!("{b}|{initial}"))
        }),
        match (&pii.last_name, &pii.postcode) {
            (Some(l), Some(p)) => Some(k.lookup("name", &format!("{}|{p}", normalise::fold(l)))),
            _ => None,
        },
    ]
}

async fn write_batch(
    store: &Store,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    batch: &[Incoming],
    import_id: &str,
    options: &CustomerImportOptions,
    out: &mut WriteOutcome,
) -> Result<(), Error> {
    let card_hashes: Vec<String> = batch.iter().map(|i| store.key.lookup("card", &i.card)).collect();
    // Which cards are known already.
    let mut known: HashMap<String, i64> = HashMap::new();
    // Small chunks: SQLite binds `$n` by name, a scan per parameter.
    for chunk in card_hashes.chunks(64) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql =
            format!("SELECT card_hash, origin_customer_id FROM cards WHERE card_hash IN ({})", placeholders.join(","));
        let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql));
        for h in chunk {
            q = q.bind(h);
        }
        for (h, id) in q.fetch_all(&mut **tx).await? {
            known.insert(h, id);
        }
    }
    let stamp = now();
    let mut consent_rows: Vec<(i64, Purpose, bool, String, String)> = Vec::new();
    let mut fresh: Vec<(&Incoming, &String)> = Vec::new();
    for (inc, card_hash) in batch.iter().zip(&card_hashes) {
        let plain = serde_json::to_vec(&inc.pii).expect("PII serialises");
        let [email, phone, tax, birth, name] = hashes(store, &inc.pii);
        match known.get(card_hash) {
            Some(&id) => {
                let (token, wrapped, sealed): (String, Option<Vec<u8>>, Option<Vec<u8>>) =
                    sqlx::query_as("SELECT token, wrapped_key, pii FROM customers WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut **tx)
                        .await?;
                let (Some(wrapped), Some(sealed)) = (wrapped, sealed) else {
                    // An erased customer's card comes back: it is a new registration.
                    return Err(Error::new(
                        ErrorKind::Input,
                        "a card of an erased customer was imported again; remove it from the file or register it anew",
                    ));
                };
                let dk = store.key.unwrap(&token, &wrapped)?;
                let old: Pii = serde_json::from_slice(&dk.open(&token, &sealed)?)
                    .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
                if old == inc.pii {
                    out.unchanged += 1;
                } else {
                    sqlx::query("UPDATE customers SET pii = $1, email_hash = $2, phone_hash = $3, tax_code_hash = $4, birth_block = $5, name_block = $6, updated_at = $7 WHERE id = $8")
                        .bind(dk.seal(&token, &plain))
                        .bind(email)
                        .bind(phone)
                        .bind(tax)
                        .bind(birth)
                        .bind(name)
                        .bind(&stamp)
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                    out.updated += 1;
                }
                // Consents: record only what changed since the latest state.
                let latest: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT c.purpose, c.granted FROM consents c WHERE c.customer_id = $1 AND {}",
                    crate::privacy::CURRENT_CONSENT
                )))
                .bind(id)
                .fetch_all(&mut **tx)
                .await?;
                let latest: HashMap<String, bool> = latest.into_iter().map(|(p, g)| (p, g != 0)).collect();
                for (p, g) in &inc.consents {
                    if latest.get(p.as_str()) != Some(g) {
                        consent_rows.push((id, *p, *g, inc.policy_version.clone(), inc.consent_at.clone()));
                    }
                }
            }
            None => fresh.push((inc, card_hash)),
        }
    }
    // New registrations, sixteen to a statement; ids come back with each row's token.
    for chunk in fresh.chunks(16) {
        struct Sealed<'a> {
            inc: &'a Incoming,
            card_hash: &'a String,
            token: String,
            wrapped: Vec<u8>,
            pii: Vec<u8>,
            card: Vec<u8>,
            hashes: [Option<String>; 5],
        }
        let sealed: Vec<Sealed<'_>> = chunk
            .iter()
            .map(|(inc, card_hash)| {
                let mut t = [0u8; 16];
                rand::fill(&mut t);
                let token = hex::encode(t);
                let (dk, wrapped) = store.key.new_data_key(&token);
                let plain = serde_json::to_vec(&inc.pii).expect("PII serialises");
                Sealed {
                    inc,
                    card_hash,
                    pii: dk.seal(&token, &plain),
                    card: dk.seal(&token, inc.card.as_bytes()),
                    hashes: hashes(store, &inc.pii),
                    token,
                    wrapped,
                }
            })
            .collect();
        let mut sql = String::from(
            "INSERT INTO customers (token, created_at, updated_at, wrapped_key, pii, email_hash, phone_hash, tax_code_hash, birth_block, name_block) VALUES ",
        );
        for i in 0..sealed.len() {
            let b = i * 9;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${},${},${},${},${},${},${},${},${},${})",
                b + 1,
                b + 2,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9
            ));
        }
        sql.push_str(" RETURNING id, token");
        let mut q = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql));
        for r in &sealed {
            let [email, phone, tax, birth, name] = r.hashes.clone();
            q = q
                .bind(&r.token)
                .bind(&stamp)
                .bind(r.wrapped.clone())
                .bind(r.pii.clone())
                .bind(email)
                .bind(phone)
                .bind(tax)
                .bind(birth)
                .bind(name);
        }
        let ids: HashMap<String, i64> =
            q.fetch_all(&mut **tx).await?.into_iter().map(|(id, token)| (token, id)).collect();
        let mut sql = String::from(
            "INSERT INTO cards (card_hash, customer_id, origin_customer_id, customer_key, card_sealed, added_at) VALUES ",
        );
        for i in 0..sealed.len() {
            let b = i * 5;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("(${},${},${},${},${},${})", b + 1, b + 2, b + 2, b + 3, b + 4, b + 5));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in &sealed {
            let id = ids[&r.token];
            q = q
                .bind(r.card_hash)
                .bind(id)
                .bind(options.pseudonymiser.key(&r.inc.card).to_hex())
                .bind(r.card.clone())
                .bind(&stamp);
            for (p, g) in &r.inc.consents {
                consent_rows.push((id, *p, *g, r.inc.policy_version.clone(), r.inc.consent_at.clone()));
            }
        }
        q.execute(&mut **tx).await?;
        out.created += sealed.len() as u64;
    }
    for chunk in consent_rows.chunks(16) {
        let mut sql =
            String::from("INSERT INTO consents (customer_id, purpose, granted, policy_version, at, source) VALUES ");
        for i in 0..chunk.len() {
            let b = i * 6;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("(${},${},${},${},${},${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, p, g, v, at) in chunk {
            q = q.bind(*id).bind(p.as_str()).bind(i64::from(*g)).bind(v.as_str()).bind(at.as_str()).bind(import_id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
