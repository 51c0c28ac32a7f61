//! `unico import customers` and `unico customers …`: thin calls into `unico-store`.

use crate::settings::DataDir;
use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;
use unico_lake::Mapping;
use unico_lake::import::ImportSummary;
use unico_store::customers::{CustomerImportOptions, import_customers};
use unico_store::{Purpose, dedupe};

#[derive(Subcommand)]
pub enum CustomersCommand {
    /// The single customer view of a customer, found by card, e-mail or phone (or #id).
    Show {
        /// Card number, e-mail, phone number or #id.
        customer: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Show the offers valid on this day (YYYY-MM-DD; default today, chain's time zone).
        #[arg(long)]
        on: Option<String>,
    },
    /// Pairs of registrations that may be one person, with their scores, for review.
    Duplicates {
        /// Show pairs scoring at least this (0–1).
        #[arg(long, default_value_t = 0.75)]
        min_score: f64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Merge the registrations scoring at least the threshold (default: dedupe_threshold).
    Merge {
        /// 0–1.
        #[arg(long)]
        threshold: Option<f64>,
    },
    /// Undo the merge of the registration holding a card.
    Unmerge {
        /// The card of the registration to separate again.
        card: String,
    },
    /// Record a consent given or withdrawn now.
    Consent {
        /// Card number, e-mail, phone number or #id.
        customer: String,
        /// marketing, profiling, email, sms or app.
        #[arg(long)]
        purpose: String,
        /// Give the consent.
        #[arg(long, conflicts_with = "withdraw")]
        grant: bool,
        /// Withdraw the consent.
        #[arg(long)]
        withdraw: bool,
        /// Privacy-policy version the consent refers to (default: privacy_policy_version).
        #[arg(long)]
        policy_version: Option<String>,
    },
    /// Everything held about a person, as JSON (right of access).
    Export {
        /// Card number, e-mail, phone number or #id.
        customer: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erase a person: destroy their keys and data, unlink their cards from the lake.
    Erase {
        /// Card number, e-mail, phone number or #id.
        customer: String,
        /// Confirm: erasure cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Every card with its customer id (CSV), for reconciliation with other systems.
    Cards,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ListFormat {
    Table,
    Csv,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `unico import surveys FILE...`.
pub fn import_surveys(
    dir: &DataDir,
    files: &[PathBuf],
    mapping: &Mapping,
    max_reject_rate: Option<f64>,
) -> Result<Vec<ImportSummary>> {
    let rt = runtime()?;
    let store = dir.store(&rt)?;
    let options = unico_store::kpis::SurveyImportOptions {
        pseudonymiser: dir.pseudonymiser()?,
        mapping: mapping.clone(),
        rejects_dir: dir.rejects_dir(),
        chain_tz: dir.chain_tz(),
        max_reject_rate,
    };
    let mut out = Vec::new();
    for f in files {
        let s = rt
            .block_on(unico_store::kpis::import_surveys(&store, f, &options))
            .with_context(|| format!("{} not imported", f.display()))?;
        out.push(s);
    }
    rt.block_on(store.close());
    Ok(out)
}

/// `unico import customers FILE...`.
pub fn import(
    dir: &DataDir,
    files: &[PathBuf],
    mapping: &Mapping,
    max_reject_rate: Option<f64>,
    dedupe_after: bool,
) -> Result<Vec<ImportSummary>> {
    let rt = runtime()?;
    let store = dir.store(&rt)?;
    let options = CustomerImportOptions {
        pseudonymiser: dir.pseudonymiser()?,
        mapping: mapping.clone(),
        rejects_dir: dir.rejects_dir(),
        max_reject_rate,
        default_country: dir.default_country()?,
        policy_version: dir.settings.privacy_policy_version.clone(),
    };
    let mut out = Vec::new();
    for f in files {
        let s = rt
            .block_on(import_customers(&store, f, &options))
            .with_context(|| format!("{} not imported", f.display()))?;
        out.push(s);
    }
    if dedupe_after {
        let merged = rt.block_on(dedupe::merge_duplicates(&store, dir.settings.dedupe_threshold))?;
        println!("merged {} duplicate registrations (score ≥ {})", merged.len(), dir.settings.dedupe_threshold);
    }
    rt.block_on(store.close());
    Ok(out)
}

pub fn run(dir: &DataDir, command: CustomersCommand) -> Result<()> {
    let rt = runtime()?;
    let store = dir.store(&rt)?;
    let result = rt.block_on(async {
        match command {
            CustomersCommand::Show { customer, json, on } => {
                let v = store.view(&customer).await?;
                let profiles = store.profiles_of(&customer).await?;
                let due = store.due_items_of(&customer).await?;
                let day = match on {
                    Some(d) => d.parse::<jiff::civil::Date>().with_context(|| format!("--on {d:?} is not a date"))?,
                    None => dir.chain_tz().to_datetime(jiff::Timestamp::now()).date(),
                };
                let offers = store.offers_of(&customer, &day.to_string()).await?;
                if json {
                    let mut j = serde_json::to_value(&v)?;
                    j["profiles"] = serde_json::to_value(&profiles)?;
                    j["due_items"] = serde_json::to_value(&due)?;
                    j["offers"] = serde_json::to_value(&offers)?;
                    println!("{}", serde_json::to_string_pretty(&j)?);
                } else {
                    print_view(&v);
                    for p in &profiles {
                        println!(
                            "behaviour (model as of {}): {}, P(alive) {:.2}, {:.1} purchase days expected in {} days, CLV {:.2}, average receipt {:.2}, usually {} around {}:00 at {}",
                            p.as_of,
                            p.segment,
                            p.p_alive,
                            p.expected_purchases,
                            p.horizon_days,
                            p.clv_cents as f64 / 100.0,
                            p.average_receipt_cents as f64 / 100.0,
                            p.preferred_weekday,
                            p.preferred_hour,
                            p.preferred_store_id.as_deref().unwrap_or("-"),
                        );
                    }
                    for d in &due {
                        println!(
                            "  due {}: {} ({}), about every {:.0} days, bought on {} days",
                            d.next_due_date, d.sku, d.category, d.cycle_days, d.purchase_days
                        );
                    }
                    if !offers.is_empty() {
                        println!("offers valid on {day}:");
                    }
                    for o in &offers {
                        println!("  {} until {}: {}", o.code, o.valid_to, o.reason);
                    }
                }
            }
            CustomersCommand::Duplicates { min_score, format } => {
                let pairs = dedupe::candidates(&store, min_score).await?;
                match format {
                    ListFormat::Csv => {
                        println!("customer_a,customer_b,score,same_email,same_phone,same_tax_code,same_birth_date,name_similarity,address_similarity");
                        for c in &pairs {
                            let e = &c.evidence;
                            println!("{},{},{},{},{},{},{},{},{}", c.a, c.b, c.score, e.same_email, e.same_phone, e.same_tax_code, e.same_birth_date, e.name_similarity, e.address_similarity);
                        }
                    }
                    ListFormat::Table => {
                        println!("{:>8} {:>8} {:>6}  evidence", "a", "b", "score");
                        for c in &pairs {
                            println!("{:>8} {:>8} {:>6.3}  {}", c.a, c.b, c.score, serde_json::to_string(&c.evidence)?);
                        }
                        println!("{} pairs scoring at least {min_score}", pairs.len());
                    }
                }
            }
            CustomersCommand::Merge { threshold } => {
                let t = threshold.unwrap_or(dir.settings.dedupe_threshold);
                let merged = dedupe::merge_duplicates(&store, t).await?;
                for c in &merged {
                    println!("merged #{} into #{} (score {:.3})", c.b, c.a, c.score);
                }
                println!("{} merges", merged.len());
            }
            CustomersCommand::Unmerge { card } => {
                let (from, restored) = dedupe::unmerge(&store, &card).await?;
                println!("registration #{restored} separated from customer #{from}");
            }
            CustomersCommand::Consent { customer, purpose, grant, withdraw, policy_version } => {
                let p = Purpose::parse(&purpose).with_context(|| format!("unknown purpose {purpose:?} (marketing, profiling, email, sms, app)"))?;
                if grant == withdraw {
                    bail!("say --grant or --withdraw");
                }
                let version = policy_version.unwrap_or_else(|| dir.settings.privacy_policy_version.clone());
                store.set_consent(&customer, p, grant, &version, "back-office").await?;
                println!("{} {} for {customer}", if grant { "granted" } else { "withdrawn" }, p.as_str());
            }
            CustomersCommand::Export { customer, out } => {
                let v = store.export(&customer).await?;
                let text = serde_json::to_string_pretty(&v)?;
                match out {
                    Some(p) => std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?,
                    None => println!("{text}"),
                }
            }
            CustomersCommand::Erase { customer, yes } => {
                if !yes {
                    bail!("erasure cannot be undone: add --yes to erase {customer}");
                }
                let id = store.erase(&customer).await?;
                println!("customer #{id} erased: keys destroyed, cards unlinked from the lake");
            }
            CustomersCommand::Cards => {
                println!("customer_id,card,customer_key");
                for (id, card, key) in store.cards().await? {
                    println!("{id},{card},{key}");
                }
            }
        }
        Ok::<_, anyhow::Error>(())
    });
    rt.block_on(store.close());
    result
}

fn print_view(v: &unico_store::privacy::CustomerView) {
    println!("customer #{}", v.id);
    for r in &v.registrations {
        match &r.pii {
            None => println!("  registration #{}: erased {}", r.id, r.erased_at.as_deref().unwrap_or("")),
            Some(p) => {
                let name =
                    format!("{} {}", p.first_name.as_deref().unwrap_or(""), p.last_name.as_deref().unwrap_or(""));
                println!("  registration #{}: {}", r.id, name.trim());
                for (label, value) in [
                    ("e-mail", &p.email),
                    ("phone", &p.phone),
                    ("born", &p.birth_date),
                    ("address", &p.address),
                    ("postcode", &p.postcode),
                    ("city", &p.city),
                    ("tax code", &p.tax_code),
                    ("registered", &p.registered_at),
                ] {
                    if let Some(v) = value {
                        println!("    {label:<10} {v}");
                    }
                }
            }
        }
        for c in &r.cards {
            println!("    card {} (lake key {})", c.card, c.customer_key);
        }
    }
    if !v.consents.is_empty() {
        let list: Vec<String> =
            v.consents.iter().map(|c| format!("{} {}", c.purpose, if c.granted { "yes" } else { "no" })).collect();
        println!("  consents: {}", list.join(", "));
    }
    for m in &v.merges {
        println!(
            "  merged #{} into #{} (score {:.3}){}",
            m.1,
            m.0,
            m.2,
            m.5.as_ref().map_or(String::new(), |u| format!(", undone {u}"))
        );
    }
}
