//! `unico customers …`: the single customer view, duplicates, consents, export, erasure.

use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;
use unico_app::{App, Code, Context, Error, Result};

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
        /// Compare every registration again (by default only those new or changed since the
        /// last run are compared with the rest).
        #[arg(long)]
        full: bool,
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

/// `unico customers …`.
pub fn run(app: &App, command: CustomersCommand) -> Result<()> {
    match command {
        CustomersCommand::Show { customer, json, on } => {
            let c = app.customer(&customer, on.as_deref())?;
            if json {
                println!("{}", super::sorted_json(&c));
                return Ok(());
            }
            print_view(&c.view);
            for p in &c.profiles {
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
            for d in &c.due_items {
                println!(
                    "  due {}: {} ({}), about every {:.0} days, bought on {} days",
                    d.next_due_date, d.sku, d.category, d.cycle_days, d.purchase_days
                );
            }
            if !c.offers.is_empty() {
                println!("offers valid on {}:", c.on);
            }
            for o in &c.offers {
                println!("  {} until {}: {}", o.code, o.valid_to, o.reason);
            }
        }
        CustomersCommand::Duplicates { min_score, format } => {
            let pairs = app.duplicates(min_score)?;
            match format {
                ListFormat::Csv => {
                    println!(
                        "customer_a,customer_b,score,same_email,same_phone,same_tax_code,same_birth_date,name_similarity,address_similarity"
                    );
                    for c in &pairs {
                        let e = &c.evidence;
                        println!(
                            "{},{},{},{},{},{},{},{},{}",
                            c.a,
                            c.b,
                            c.score,
                            e.same_email,
                            e.same_phone,
                            e.same_tax_code,
                            e.same_birth_date,
                            e.name_similarity,
                            e.address_similarity
                        );
                    }
                }
                ListFormat::Table => {
                    println!("{:>8} {:>8} {:>6}  evidence", "a", "b", "score");
                    for c in &pairs {
                        let evidence = serde_json::to_string(&c.evidence).expect("evidence serialises");
                        println!("{:>8} {:>8} {:>6.3}  {evidence}", c.a, c.b, c.score);
                    }
                    println!("{} pairs scoring at least {min_score}", pairs.len());
                }
            }
        }
        CustomersCommand::Merge { threshold, full } => {
            let merged = app.merge_duplicates_with(threshold, full, &crate::progress::Bars::new())?;
            for c in &merged.merges {
                println!("merged #{} into #{} (score {:.3})", c.b, c.a, c.score);
            }
            let r = &merged.run;
            let what = if r.full {
                "every registration compared".to_string()
            } else {
                format!("{} new or changed registrations compared", r.pending)
            };
            println!("{} merges ({what}; {} pairs scored)", merged.merges.len(), r.scored);
        }
        CustomersCommand::Unmerge { card } => {
            let u = app.unmerge(&card)?;
            println!("registration #{} separated from customer #{}", u.restored, u.from);
        }
        CustomersCommand::Consent { customer, purpose, grant, withdraw, policy_version } => {
            if grant == withdraw {
                return Err(Error::new(Code::InputInvalid, "say --grant or --withdraw"));
            }
            let c = app.set_consent(&customer, &purpose, grant, policy_version.as_deref(), "back-office")?;
            println!("{} {} for {customer}", if c.granted { "granted" } else { "withdrawn" }, c.purpose.as_str());
        }
        CustomersCommand::Export { customer, out } => {
            let text = serde_json::to_string_pretty(&app.export_customer(&customer)?).expect("JSON");
            match out {
                Some(p) => unico_core::fs::write_atomic(&p, text.as_bytes())
                    .with_context(|| format!("cannot write {}", p.display()))?,
                None => println!("{text}"),
            }
        }
        CustomersCommand::Erase { customer, yes } => {
            if !yes {
                return Err(Error::new(
                    Code::InputInvalid,
                    format!("erasure cannot be undone: add --yes to erase {customer}"),
                ));
            }
            let e = app.erase_customer(&customer, &crate::progress::Bars::new())?;
            println!(
                "customer #{} erased: keys destroyed, cards unlinked; {} receipt lines kept without a card, \
                 {} model rows and {} campaign rows removed",
                e.customer_id, e.lake_lines, e.model_rows, e.campaign_rows
            );
        }
        CustomersCommand::Cards => {
            println!("customer_id,card,customer_key");
            for c in app.cards()? {
                println!("{},{},{}", c.customer_id, c.card, c.customer_key);
            }
        }
    }
    Ok(())
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
