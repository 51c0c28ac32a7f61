//! One person, one customer: finding registrations of the same person and merging them.
//!
//! Candidate pairs come from blocks of registrations that share a keyed hash — the same
//! e-mail, phone, tax code, birth date and surname initial, or folded surname and postcode — so nothing is
//! compared with everything and nothing personal is needed to form the blocks. Each pair is
//! then decrypted in memory and scored:
//!
//! `score = 0.45·name + 0.20·address + 0.20·same birth date + 0.15·same e-mail or phone`
//!
//! where `name` and `address` are Jaro–Winkler similarities of the folded forms (accents,
//! case and punctuation removed; `V.`, `C.so`, `V.le`, `P.za` expanded). The same codice
//! fiscale is the same person (score 1). Pairs at or above the threshold are merged: the
//! oldest registration survives, the others' cards move to it, and every merge is logged with
//! its evidence (booleans and similarities, never the data) and can be undone; a pair that was
//! undone is never merged again automatically.

use crate::normalise::fold;
use crate::{Error, ErrorKind, Pii, Store, now};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Blocks larger than this (a shared family e-mail, a common birth date in a huge base) are
/// not expanded into all their pairs.
const MAX_BLOCK: usize = 64;

/// Why two registrations look like one person.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Evidence {
    /// Same e-mail.
    pub same_email: bool,
    /// Same phone.
    pub same_phone: bool,
    /// Same codice fiscale.
    pub same_tax_code: bool,
    /// Same birth date.
    pub same_birth_date: bool,
    /// Jaro–Winkler similarity of the folded names (0–1).
    pub name_similarity: f64,
    /// Jaro–Winkler similarity of the folded addresses (0–1).
    pub address_similarity: f64,
}

/// A pair of registrations that may be one person.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Candidate {
    /// The older registration.
    pub a: i64,
    /// The newer registration.
    pub b: i64,
    /// 0–1.
    pub score: f64,
    /// Why.
    pub evidence: Evidence,
}

fn expand_address(folded: &str) -> String {
    let words: Vec<&str> = folded.split(' ').collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let next = words.get(i + 1).copied();
        let (word, used) = match (words[i], next) {
            ("c", Some("so")) => ("corso", 2),
            ("v", Some("le")) => ("viale", 2),
            ("p", Some("za")) => ("piazza", 2),
            ("v", _) => ("via", 1),
            (w, _) => (w, 1),
        };
        out.push(word);
        i += used;
    }
    out.join(" ")
}

fn full_name(p: &Pii) -> String {
    fold(&format!("{} {}", p.first_name.as_deref().unwrap_or(""), p.last_name.as_deref().unwrap_or("")))
}

/// Scores two registrations' personal data.
pub fn score(a: &Pii, b: &Pii) -> (f64, Evidence) {
    let same = |x: &Option<String>, y: &Option<String>| x.is_some() && x == y;
    let name_a = full_name(a);
    let name_b = full_name(b);
    let swapped_b =
        fold(&format!("{} {}", b.last_name.as_deref().unwrap_or(""), b.first_name.as_deref().unwrap_or("")));
    let name = if name_a.is_empty() || name_b.is_empty() {
        0.0
    } else {
        strsim::jaro_winkler(&name_a, &name_b).max(strsim::jaro_winkler(&name_a, &swapped_b))
    };
    let address = match (&a.address, &b.address) {
        (Some(x), Some(y)) => strsim::jaro_winkler(&expand_address(&fold(x)), &expand_address(&fold(y))),
        _ => 0.0,
    };
    let evidence = Evidence {
        same_email: same(&a.email, &b.email),
        same_phone: same(&a.phone, &b.phone),
        same_tax_code: same(&a.tax_code, &b.tax_code),
        same_birth_date: same(&a.birth_date, &b.birth_date),
        name_similarity: (name * 1000.0).round() / 1000.0,
        address_similarity: (address * 1000.0).round() / 1000.0,
    };
    let contact = if evidence.same_email || evidence.same_phone { 1.0 } else { 0.0 };
    let birth = if evidence.same_birth_date { 1.0 } else { 0.0 };
    let s = if evidence.same_tax_code { 1.0 } else { 0.45 * name + 0.20 * address + 0.20 * birth + 0.15 * contact };
    ((s * 1000.0).round() / 1000.0, evidence)
}

/// The blocking keys: the column, and what it is in words.
const KEYS: [(&str, &str); 5] = [
    ("email_hash", "e-mail"),
    ("phone_hash", "phone"),
    ("tax_code_hash", "tax code"),
    ("birth_block", "birth date and initial"),
    ("name_block", "surname and postcode"),
];

/// With this share of the registrations or more waiting, a merge run
/// compares everything (one scan per key beats the lookups).
const FULL_ABOVE: f64 = 0.2;

/// What a merge run compared.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Run {
    /// Every registration compared with every other of its blocks (otherwise only the
    /// registrations new or changed since the last run, with the rest of their blocks).
    pub full: bool,
    /// Registrations new or changed since the last run.
    pub pending: u64,
    /// Pairs scored.
    pub scored: u64,
}

/// A registration of a block, as read from the store.
struct Member {
    id: i64,
    pending: bool,
    token: String,
    wrapped: Vec<u8>,
    sealed: Vec<u8>,
}

/// What a comparison pass keeps: the pairs at or above the score, and the pairs it scored.
struct Found<'a> {
    store: &'a Store,
    min_score: f64,
    undone: HashSet<(i64, i64)>,
    /// Only pairs with a pending registration are compared (`None`: all pairs).
    pending: Option<HashSet<i64>>,
    pairs: HashMap<(i64, i64), Candidate>,
    scored: u64,
}

impl Found<'_> {
    /// Scores the pairs of one block (`size`: its active registrations, of which the first
    /// `MAX_BLOCK + 1` are in `block`), ids ascending.
    fn block(&mut self, block: &[Member], size: usize) -> Result<(), Error> {
        if !(2..=MAX_BLOCK).contains(&size) || (self.pending.is_some() && !block.iter().any(|m| m.pending)) {
            return Ok(());
        }
        let mut plain: Vec<Option<Pii>> = (0..block.len()).map(|_| None).collect();
        for x in 0..block.len() {
            for y in x + 1..block.len() {
                let (a, b) = (&block[x], &block[y]);
                if (self.pending.is_some() && !a.pending && !b.pending)
                    || self.undone.contains(&(a.id, b.id))
                    || self.undone.contains(&(b.id, a.id))
                    || self.pairs.contains_key(&(a.id, b.id))
                {
                    continue;
                }
                for i in [x, y] {
                    if plain[i].is_none() {
                        let m = &block[i];
                        let dk = self.store.key.unwrap(&m.token, &m.wrapped)?;
                        let pii: Pii = serde_json::from_slice(&dk.open(&m.token, &m.sealed)?)
                            .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
                        plain[i] = Some(pii);
                    }
                }
                let (s, evidence) = score(plain[x].as_ref().expect("opened"), plain[y].as_ref().expect("opened"));
                self.scored += 1;
                if s >= self.min_score {
                    self.pairs.insert((a.id, b.id), Candidate { a: a.id, b: b.id, score: s, evidence });
                }
            }
        }
        Ok(())
    }
}

/// Compares the registrations block by block, in bounded memory: for each blocking key the
/// database returns the members of the blocks of two or more registrations, sorted by key
/// (its index or its sort does the grouping, spilling to disk as it needs), and one block
/// at a time is decrypted and scored. `pending`: compare only the blocks holding one of
/// these registrations, and in them only the pairs with one of them.
async fn compare(
    store: &Store,
    min_score: f64,
    pending: Option<HashSet<i64>>,
    on_key: &mut (dyn FnMut(usize, &str) + Send),
) -> Result<(Vec<Candidate>, u64), Error> {
    use futures_util::TryStreamExt;
    let undone: HashSet<(i64, i64)> =
        sqlx::query_as::<_, (i64, i64)>("SELECT survivor_id, merged_id FROM merges WHERE undone_at IS NOT NULL")
            .fetch_all(&store.pool)
            .await?
            .into_iter()
            .collect();
    let mut found = Found { store, min_score, undone, pending, pairs: HashMap::new(), scored: 0 };
    for (k, (col, what)) in KEYS.iter().enumerate() {
        on_key(k, what);
        // The keys shared by 2 to MAX_BLOCK active registrations, counted from the index
        // (key, merged_into) alone: all of them, or those of the registrations waiting.
        let keys = match &found.pending {
            None => format!("{col} IS NOT NULL"),
            Some(_) => format!(
                "{col} IN (SELECT k.{col} FROM dedupe_pending p JOIN customers k ON k.id = p.customer_id \
                 WHERE k.{col} IS NOT NULL)"
            ),
        };
        let sql = format!(
            "SELECT c.{col}, c.id, c.token, c.wrapped_key, c.pii FROM customers c \
             WHERE c.merged_into IS NULL AND c.erased_at IS NULL AND c.{col} IN (\
             SELECT {col} FROM customers WHERE {keys} AND merged_into IS NULL \
             GROUP BY {col} HAVING COUNT(*) BETWEEN 2 AND {MAX_BLOCK}) \
             ORDER BY c.{col}, c.id"
        );
        type Row = (String, i64, String, Option<Vec<u8>>, Option<Vec<u8>>);
        let mut rows = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).fetch(&store.pool);
        let mut key: Option<String> = None;
        let mut block: Vec<Member> = Vec::new();
        let mut size = 0usize;
        while let Some((h, id, token, wrapped, sealed)) = rows.try_next().await? {
            if key.as_deref() != Some(h.as_str()) {
                found.block(&block, size)?;
                block.clear();
                size = 0;
                key = Some(h);
            }
            size += 1;
            if block.len() <= MAX_BLOCK {
                let pending = found.pending.as_ref().is_some_and(|p| p.contains(&id));
                block.push(Member {
                    id,
                    pending,
                    token,
                    wrapped: wrapped.unwrap_or_default(),
                    sealed: sealed.unwrap_or_default(),
                });
            }
        }
        found.block(&block, size)?;
    }
    let mut out: Vec<Candidate> = found.pairs.into_values().collect();
    out.sort_by(|p, q| q.score.total_cmp(&p.score).then(p.a.cmp(&q.a)).then(p.b.cmp(&q.b)));
    Ok((out, found.scored))
}

/// Every pair of active registrations scoring at least `min_score`, best first.
pub async fn candidates(store: &Store, min_score: f64) -> Result<Vec<Candidate>, Error> {
    Ok(compare(store, min_score, None, &mut |_, _| {}).await?.0)
}

struct Loaded {
    id: i64,
    token: String,
    wrapped: Vec<u8>,
    sealed: Vec<u8>,
}

/// [`candidates`] as it was before the comparison ran block by block in the database: every
/// active registration's keys in memory. Kept as the reference the tests hold the blocked
/// comparison to; not for a large store.
#[doc(hidden)]
pub async fn candidates_in_memory(store: &Store, min_score: f64) -> Result<Vec<Candidate>, Error> {
    type Row = (
        i64,
        String,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, token, wrapped_key, pii, email_hash, phone_hash, tax_code_hash, birth_block, name_block \
         FROM customers WHERE merged_into IS NULL AND erased_at IS NULL ORDER BY id",
    )
    .fetch_all(&store.pool)
    .await?;
    let mut blocks: HashMap<(u8, String), Vec<usize>> = HashMap::new();
    let mut loaded = Vec::with_capacity(rows.len());
    for (i, (id, token, wrapped, sealed, email, phone, tax, birth, name)) in rows.into_iter().enumerate() {
        for (kind, h) in [(0u8, email), (1, phone), (2, tax), (3, birth), (4, name)] {
            if let Some(h) = h {
                blocks.entry((kind, h)).or_default().push(i);
            }
        }
        loaded.push(Loaded { id, token, wrapped: wrapped.unwrap_or_default(), sealed: sealed.unwrap_or_default() });
    }
    let undone: HashSet<(i64, i64)> =
        sqlx::query_as::<_, (i64, i64)>("SELECT survivor_id, merged_id FROM merges WHERE undone_at IS NOT NULL")
            .fetch_all(&store.pool)
            .await?
            .into_iter()
            .collect();
    let mut pairs: HashSet<(usize, usize)> = HashSet::new();
    for members in blocks.values().filter(|m| m.len() >= 2 && m.len() <= MAX_BLOCK) {
        for x in 0..members.len() {
            for y in x + 1..members.len() {
                pairs.insert((members[x].min(members[y]), members[x].max(members[y])));
            }
        }
    }
    let mut plain: HashMap<usize, Pii> = HashMap::new();
    let mut out = Vec::new();
    for (x, y) in pairs {
        let (a, b) = (&loaded[x], &loaded[y]);
        if undone.contains(&(a.id, b.id)) || undone.contains(&(b.id, a.id)) {
            continue;
        }
        for i in [x, y] {
            if let std::collections::hash_map::Entry::Vacant(e) = plain.entry(i) {
                let l = &loaded[i];
                let dk = store.key.unwrap(&l.token, &l.wrapped)?;
                let pii: Pii = serde_json::from_slice(&dk.open(&l.token, &l.sealed)?)
                    .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
                e.insert(pii);
            }
        }
        let (s, evidence) = score(&plain[&x], &plain[&y]);
        if s >= min_score {
            out.push(Candidate { a: a.id, b: b.id, score: s, evidence });
        }
    }
    out.sort_by(|p, q| q.score.total_cmp(&p.score).then(p.a.cmp(&q.a)).then(p.b.cmp(&q.b)));
    Ok(out)
}

/// Merges every pair scoring at least `threshold`; returns the merges made and what was
/// compared. Only the registrations new or changed since the last run are compared with the
/// others of their blocks, unless `full` asks for everything, the threshold is lower than
/// the last run's, or most registrations are new. `on_key` hears each blocking key as its
/// pass begins (index into the five, name).
pub async fn merge_duplicates(
    store: &Store,
    threshold: f64,
    full: bool,
    on_key: &mut (dyn FnMut(usize, &str) + Send),
) -> Result<(Vec<Candidate>, Run), Error> {
    let last: Option<(f64,)> = sqlx::query_as("SELECT threshold FROM dedupe_runs ORDER BY id DESC LIMIT 1")
        .fetch_optional(&store.pool)
        .await?;
    // What is waiting now; what is queued while this run compares waits for the next.
    let (upto, waiting): (Option<i64>, i64) =
        sqlx::query_as("SELECT MAX(id), COUNT(*) FROM dedupe_pending").fetch_one(&store.pool).await?;
    // About as many registrations as there are (counting them would read them all).
    let (registrations,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(id) FROM customers").fetch_one(&store.pool).await?;
    let full = full
        || last.is_some_and(|(t,)| threshold < t)
        || waiting as f64 >= FULL_ABOVE * registrations.unwrap_or(0) as f64;
    let pending = if full {
        None
    } else {
        let ids: Vec<(i64,)> = sqlx::query_as("SELECT customer_id FROM dedupe_pending WHERE id <= $1")
            .bind(upto.unwrap_or(0))
            .fetch_all(&store.pool)
            .await?;
        Some(ids.into_iter().map(|(i,)| i).collect::<HashSet<i64>>())
    };
    let pending_count = pending.as_ref().map_or(waiting as u64, |p| p.len() as u64);
    let (found, scored) = if pending.as_ref().is_some_and(|p| p.is_empty()) {
        (Vec::new(), 0)
    } else {
        compare(store, threshold, pending, on_key).await?
    };
    let run = Run { full, pending: pending_count, scored };
    // Union-find: each cluster merges into its oldest registration.
    let mut parent: HashMap<i64, i64> = HashMap::new();
    fn root(parent: &mut HashMap<i64, i64>, x: i64) -> i64 {
        let p = *parent.get(&x).unwrap_or(&x);
        if p == x {
            return x;
        }
        let r = root(parent, p);
        parent.insert(x, r);
        r
    }
    for c in &found {
        let (ra, rb) = (root(&mut parent, c.a), root(&mut parent, c.b));
        if ra != rb {
            parent.insert(ra.max(rb), ra.min(rb));
        }
    }
    let mut best: HashMap<i64, &Candidate> = HashMap::new();
    for c in &found {
        for id in [c.a, c.b] {
            if best.get(&id).is_none_or(|b| b.score < c.score) {
                best.insert(id, c);
            }
        }
    }
    let mut merged = Vec::new();
    let mut ids: Vec<i64> = best.keys().copied().collect();
    ids.sort();
    // All merges of a run in one transaction: all of them happen, or none.
    let mut tx = store.write_tx().await?;
    for id in ids {
        let survivor = root(&mut parent, id);
        if survivor == id {
            continue;
        }
        let c = best[&id];
        merge_in(&mut tx, survivor, id, c).await?;
        merged.push(Candidate { a: survivor, b: id, score: c.score, evidence: c.evidence.clone() });
    }
    if let Some(upto) = upto {
        sqlx::query("DELETE FROM dedupe_pending WHERE id <= $1").bind(upto).execute(&mut *tx).await?;
    }
    sqlx::query(
        "INSERT INTO dedupe_runs (at, threshold, full_run, pending, scored, merged) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now())
    .bind(threshold)
    .bind(i64::from(run.full))
    .bind(run.pending as i64)
    .bind(run.scored as i64)
    .bind(merged.len() as i64)
    .execute(&mut *tx)
    .await?;
    if !merged.is_empty() {
        Store::pos_changed(&mut *tx, "all", None).await?;
    }
    tx.commit().await?;
    Ok((merged, run))
}

/// Merges registration `merged` into `survivor`, logging the evidence.
pub async fn merge(store: &Store, survivor: i64, merged: i64, why: &Candidate) -> Result<(), Error> {
    let mut tx = store.write_tx().await?;
    merge_in(&mut tx, survivor, merged, why).await?;
    Store::pos_changed(&mut *tx, "all", None).await?;
    tx.commit().await?;
    Ok(())
}

async fn merge_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    survivor: i64,
    merged: i64,
    why: &Candidate,
) -> Result<(), Error> {
    let evidence = serde_json::to_string(&why.evidence).expect("evidence serialises");
    sqlx::query("UPDATE cards SET customer_id = $1 WHERE customer_id = $2")
        .bind(survivor)
        .bind(merged)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE customers SET merged_into = $1 WHERE merged_into = $2")
        .bind(survivor)
        .bind(merged)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE customers SET merged_into = $1 WHERE id = $2")
        .bind(survivor)
        .bind(merged)
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO merges (survivor_id, merged_id, score, evidence, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(survivor)
        .bind(merged)
        .bind(why.score)
        .bind(&evidence)
        .bind(now())
        .execute(&mut **tx)
        .await?;
    Store::audit(
        &mut **tx,
        "merge",
        Some(survivor),
        &format!("{{\"merged\":{merged},\"score\":{},\"evidence\":{evidence}}}", why.score),
    )
    .await?;
    Ok(())
}

/// Undoes the merge of the registration holding `card`: it becomes a customer of its own
/// again, with its cards, and the pair is not merged again automatically. Returns
/// (the customer it had been merged into, the restored registration).
pub async fn unmerge(store: &Store, card: &str) -> Result<(i64, i64), Error> {
    let hash = store.key.lookup("card", card.trim());
    let row: Option<(i64,)> = sqlx::query_as("SELECT origin_customer_id FROM cards WHERE card_hash = $1")
        .bind(&hash)
        .fetch_optional(&store.pool)
        .await?;
    let (id,) =
        row.ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no registration holds card {:?}", card.trim())))?;
    let m: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, survivor_id FROM merges WHERE merged_id = $1 AND undone_at IS NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&store.pool)
    .await?;
    let (merge_id, survivor) = m.ok_or_else(|| {
        Error::new(ErrorKind::NotFound, format!("the registration of card {:?} is not merged", card.trim()))
    })?;
    let mut tx = store.write_tx().await?;
    sqlx::query("UPDATE cards SET customer_id = $1 WHERE origin_customer_id = $1").bind(id).execute(&mut *tx).await?;
    sqlx::query("UPDATE customers SET merged_into = NULL WHERE id = $1").bind(id).execute(&mut *tx).await?;
    sqlx::query("UPDATE merges SET undone_at = $1 WHERE id = $2").bind(now()).bind(merge_id).execute(&mut *tx).await?;
    Store::audit(&mut *tx, "unmerge", Some(survivor), &format!("{{\"restored\":{id},\"merge\":{merge_id}}}")).await?;
    Store::pos_changed(&mut *tx, "all", None).await?;
    tx.commit().await?;
    Ok((survivor, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pii(first: &str, last: &str, email: &str, birth: &str, address: &str) -> Pii {
        Pii {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            email: Some(email.into()),
            birth_date: Some(birth.into()),
            address: Some(address.into()),
            ..Pii::default()
        }
    }

    #[test]
    fn the_same_person_written_twice_scores_high_and_strangers_low() {
        let a = pii("Nicolò", "D'Angelo", "nicolo@x.it", "1980-01-02", "Corso Italia 15");
        let b = pii("NICOLO", "dangelo", "nicolo@x.it", "1980-01-02", "C.so Italia 15");
        assert!(score(&a, &b).0 >= 0.99, "{:?}", score(&a, &b));
        let stranger = pii("Giulia", "Rossi", "g@y.it", "1980-01-02", "Via Roma 1");
        assert!(score(&a, &stranger).0 < 0.7, "{:?}", score(&a, &stranger));
        // A family sharing an e-mail and an address is not one person.
        let sister = pii("Chiara", "D'Angelo", "nicolo@x.it", "1984-06-30", "Corso Italia 15");
        assert!(score(&a, &sister).0 < 0.9, "{:?}", score(&a, &sister));
        // The same tax code is the same person whatever else differs.
        let mut t1 = a.clone();
        let mut t2 = stranger.clone();
        t1.tax_code = Some("RSSMRA85T10A562S".into());
        t2.tax_code = Some("RSSMRA85T10A562S".into());
        assert_eq!(score(&t1, &t2).0, 1.0);
    }

    #[test]
    fn street_abbreviations_expand() {
        assert_eq!(expand_address(&fold("V. Roma 25")), "via roma 25");
        assert_eq!(expand_address(&fold("V.le Europa 3")), "viale europa 3");
        assert_eq!(expand_address(&fold("P.za della Libertà 9")), "piazza della liberta 9");
    }
}
