//! Erasure beyond the store: the person's history cut from the lake, the model's files and
//! the campaign directories, so that no file of the data directory links their card to
//! what they bought, and a later receipt with the same card starts a new history.
//!
//! The store's erasure lists the person's pseudonymous keys as pending; [`App::finish_erasures`]
//! rewrites the files under the lake's write lock and then forgets the keys. A crash midway
//! leaves the keys pending, and the next erasure or import finishes the work.
//! See `docs/decisions/0015-erasure-in-files.md`.

use crate::App;
use crate::error::{Code, Context, Error, Result};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;
use unico_lake::lake::WriteLock;

/// What an erasure did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Erasure {
    /// The customer erased.
    pub customer_id: i64,
    /// Receipt lines that lost their customer key (kept in the sales as purchases without a card).
    pub lake_lines: u64,
    /// Rows taken out of the model's files (profiles, habits).
    pub model_rows: u64,
    /// Rows taken out of campaign directories (offers, customers, channel exports) and of
    /// files written for download (recommendations).
    pub campaign_rows: u64,
}

impl App {
    /// Erases a person: keys and personal data destroyed, cards unlinked, their history cut
    /// from the lake, the model and the campaign directories. Refused, with nothing erased,
    /// while another process writes the lake.
    pub fn erase_customer(&self, who: &str, progress: &dyn crate::Progress) -> Result<Erasure> {
        let lake = self.lake()?;
        let lock = lake.lock().map_err(|e| {
            Error::with_source(Code::Conflict, "another Unico process is writing the lake; erase when it ends", e)
        })?;
        let view = self.with_store(async |store| Ok(store.view(who).await?))?;
        let cards: Vec<String> =
            view.registrations.iter().flat_map(|r| r.cards.iter().map(|c| c.card.clone())).collect();
        // Rejected rows keep their records to be fixed and imported again: the person's
        // card numbers are taken out of them first (a crash after this leaves the person
        // whole and the rejects without the card, which is harmless).
        crate::customers::scrub_rejects(&self.rejects_dir(), &cards)?;
        // Files written for download (recommendations) name customers by card or by key.
        scrub_exports(&self.exports_dir(), &HashSet::new(), &cards.iter().cloned().collect())?;
        let id = self.with_store(async |store| Ok(store.erase(who).await?))?;
        progress.message(crate::progress::ERASING_FILES);
        let mut done = self.finish_erasures_locked(&lake, &lock)?;
        done.customer_id = id;
        Ok(done)
    }

    /// Finishes erasures a crash left halfway (keys the store lists as pending), if any;
    /// takes the lake's write lock for it.
    pub(crate) fn finish_pending_erasures(&self) -> Result<()> {
        let pending = self.with_store(async |store| Ok(store.pending_erasures().await?))?;
        if pending.is_empty() {
            return Ok(());
        }
        let lake = self.lake()?;
        let lock = lake.lock()?;
        self.finish_erasures_locked(&lake, &lock)?;
        Ok(())
    }

    fn finish_erasures_locked(&self, lake: &unico_lake::Lake, lock: &WriteLock) -> Result<Erasure> {
        let pending = self.with_store(async |store| Ok(store.pending_erasures().await?))?;
        let mut out = Erasure::default();
        if pending.is_empty() {
            return Ok(out);
        }
        let keys: HashSet<String> = pending.iter().cloned().collect();
        // The lake first: this waits for readers of older versions (a model build), so a
        // model built from the old lake is published before its files are rewritten below.
        let version = unico_lake::import::new_import_id(unico_lake::mapping::Dataset::Receipts);
        let forgotten = unico_lake::forget::forget_in_lake(lake, lock, &keys, &version)
            .context("cannot remove the erased history from the lake")?;
        out.lake_lines = forgotten.lines;
        for path in unico_lake::forget::parquet_files_below(&self.model_root())? {
            out.model_rows += unico_lake::forget::drop_rows(&path, &keys)
                .with_context(|| format!("cannot remove the erased history from {}", path.display()))?;
        }
        out.campaign_rows += scrub_exports(&self.exports_dir(), &keys, &keys)?;
        let dirs = self.with_store(async |store| Ok(store.campaign_directories().await?))?;
        for dir in dirs {
            out.campaign_rows += scrub_campaign(Path::new(&dir), &keys)?;
        }
        self.with_store(async |store| Ok(store.erasures_done(&pending).await?))?;
        Ok(out)
    }
}

/// Takes the customers of `keys` out of a campaign directory: rows of `offers.csv`,
/// `customers.csv` and every channel's CSV, entries of `app.json`. The card numbers come
/// from the directory's own `customers.csv` (the store no longer has them). Each file is
/// replaced whole. A directory moved or deleted since is skipped. Returns the rows removed.
fn scrub_campaign(dir: &Path, keys: &HashSet<String>) -> Result<u64> {
    let customers = dir.join("customers.csv");
    if !customers.is_file() {
        return Ok(0);
    }
    let mut cards: HashSet<String> = HashSet::new();
    let mut r = csv::Reader::from_path(&customers)?;
    let headers = r.headers()?.clone();
    let (Some(ci), Some(ki)) =
        (headers.iter().position(|h| h == "customer_id"), headers.iter().position(|h| h == "customer_key"))
    else {
        return Ok(0);
    };
    for rec in r.records() {
        let rec = rec?;
        if keys.contains(&rec[ki]) && !rec[ci].is_empty() {
            cards.insert(rec[ci].to_string());
        }
    }
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => removed += scrub_csv(&path, keys, &cards)?,
            Some("json") if path.file_name().is_some_and(|n| n == "app.json") => {
                removed += scrub_app_json(&path, &cards)?;
            }
            _ => {}
        }
    }
    Ok(removed)
}

/// Takes the customers named in `cards` (their `customer_id`, a card or a key) or `keys`
/// (`customer_key`) out of every CSV of the exports folder.
fn scrub_exports(dir: &Path, keys: &HashSet<String>, cards: &HashSet<String>) -> Result<u64> {
    let mut removed = 0;
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(0) };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "csv") {
            removed += scrub_csv(&path, keys, cards)?;
        }
    }
    Ok(removed)
}

fn scrub_csv(path: &Path, keys: &HashSet<String>, cards: &HashSet<String>) -> Result<u64> {
    let mut r = csv::Reader::from_path(path)?;
    let headers = r.headers()?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (ci, ki) = (column("customer_id"), column("customer_key"));
    if ci.is_none() && ki.is_none() {
        return Ok(0);
    }
    let mut kept = Vec::new();
    let mut removed = 0u64;
    for rec in r.records() {
        let rec = rec?;
        let theirs = ci.is_some_and(|i| cards.contains(&rec[i])) || ki.is_some_and(|i| keys.contains(&rec[i]));
        if theirs {
            removed += 1;
        } else {
            kept.push(rec);
        }
    }
    if removed > 0 {
        unico_core::fs::write_atomic_with(path, |file| {
            let mut w = csv::Writer::from_writer(file);
            w.write_record(&headers)?;
            for rec in &kept {
                w.write_record(rec)?;
            }
            w.flush()
        })
        .with_context(|| format!("cannot rewrite {}", path.display()))?;
    }
    Ok(removed)
}

fn scrub_app_json(path: &Path, cards: &HashSet<String>) -> Result<u64> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut entries: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(&bytes)?;
    let before = entries.len();
    entries.retain(|e| !e.get("customer_id").and_then(|v| v.as_str()).is_some_and(|c| cards.contains(c)));
    let removed = (before - entries.len()) as u64;
    if removed > 0 {
        unico_core::fs::write_atomic(path, &serde_json::to_vec_pretty(&entries)?)
            .with_context(|| format!("cannot rewrite {}", path.display()))?;
    }
    Ok(removed)
}
