//! `unico app …`: what the shoppers' app shows that the retailer provides — the privacy
//! policy (by version) and the chain's promotions (the flyer) — and the stores' tickets.

use crate::OutputFormat;
use clap::Subcommand;
use std::path::PathBuf;
use unico_app::staff::Caller;
use unico_app::{App, Code, Error, Result};

/// `unico app …`.
#[derive(Subcommand)]
pub enum AppCommand {
    /// Publish a version of the privacy policy (shoppers are asked to accept it).
    Privacy {
        /// Its version (a change is a new version).
        #[arg(long)]
        policy_version: String,
        /// A text file with the policy.
        file: PathBuf,
    },
    /// Add the chain's promotions from a CSV file with the columns sku, title, price_cents,
    /// was_cents (may be empty), valid_from and valid_to (YYYY-MM-DD).
    Promotions {
        /// The CSV file.
        file: PathBuf,
    },
    /// Send every customer who agreed to marketing on a channel the signed link to their own
    /// flyer (through the outbox).
    SendFlyer {
        /// `email` or `sms`.
        #[arg(long)]
        channel: String,
        /// The tenant name the links carry (`default` for `unico serve` of one data directory;
        /// the name in the tenants file otherwise).
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Shoppers' tickets, of one store or of all.
    Tickets {
        /// Only this store's.
        #[arg(long)]
        store: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

/// Runs `unico app …`.
pub fn run(app: &App, command: AppCommand) -> Result<()> {
    match command {
        AppCommand::Privacy { policy_version: version, file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::with_source(Code::FileUnusable, format!("cannot read {}", file.display()), e))?;
            app.publish_privacy_policy(&version, &text, &Caller::cli())?;
            println!(
                "privacy policy version {version} published: the app shows it at registration and asks every shopper to accept it"
            );
        }
        AppCommand::Promotions { file } => {
            let promotions = unico_app::shopper::read_promotions(&file)?;
            let n = app.add_promotions(&promotions, &Caller::cli())?;
            println!("{n} promotions added");
        }
        AppCommand::SendFlyer { channel, tenant } => {
            let n = app.send_flyers(&tenant, &channel, &Caller::cli())?;
            println!("{n} flyer links queued in the outbox ({channel})");
        }
        AppCommand::Tickets { store, format } => {
            let list = app.store_tickets(store.as_deref())?;
            match format {
                OutputFormat::Json => super::print_json(&list),
                OutputFormat::Table => {
                    println!("{:>6} {:<10} {:<9} {:<28} subject", "id", "store", "state", "updated");
                    for t in list {
                        println!("{:>6} {:<10} {:<9} {:<28} {}", t.id, t.store_id, t.state, t.updated_at, t.subject);
                    }
                }
            }
        }
    }
    Ok(())
}

/// `unico orders …`: click-and-collect (docs/orders.md).
#[derive(Subcommand)]
pub enum OrdersCommand {
    /// Add pickup slots to a store: one every --minutes from --from to --to on --day (the
    /// chain's clock), each taking --capacity orders. Slots already there are kept.
    Slots {
        /// The store.
        #[arg(long)]
        store: String,
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        day: String,
        /// First slot's start, HH:MM.
        #[arg(long, default_value = "10:00")]
        from: String,
        /// Last slot's end, HH:MM.
        #[arg(long, default_value = "19:00")]
        to: String,
        /// Each slot's length.
        #[arg(long, default_value_t = 60)]
        minutes: i64,
        /// Orders per slot.
        #[arg(long, default_value_t = 5)]
        capacity: i64,
    },
    /// Orders from today's slots on, by slot.
    List {
        /// One store.
        #[arg(long)]
        store: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// The batch step: write collected orders to the lake as receipts of channel `app`
    /// (each once, however often it runs; `unico serve` runs it every hour).
    ToLake,
}

/// Runs `unico orders …`.
pub fn orders(app: &App, command: OrdersCommand) -> Result<()> {
    match command {
        OrdersCommand::Slots { store, day, from, to, minutes, capacity } => {
            let added = app.add_slots(&store, &day, &from, &to, minutes, capacity)?;
            println!("{} pickup slots added to store {store} on {day}", added.len());
            for s in added {
                println!("  slot {:>5}  {} to {}  {} orders", s.id, s.starts_at, s.ends_at, s.capacity);
            }
        }
        OrdersCommand::List { store, format } => {
            let list = app.store_orders(store.as_deref(), None, &[])?;
            match format {
                OutputFormat::Json => super::print_json(&list),
                OutputFormat::Table => {
                    println!(
                        "{:>6} {:<8} {:<26} {:<14} {:>5} {:>12}",
                        "order", "store", "pickup", "state", "lines", "total"
                    );
                    for o in list {
                        println!(
                            "{:>6} {:<8} {:<26} {:<14} {:>5} {:>12}",
                            o.id,
                            o.store_id,
                            o.slot.starts_at,
                            o.state,
                            o.lines.len(),
                            format!("{}.{:02}", o.total_cents / 100, o.total_cents % 100)
                        );
                    }
                }
            }
        }
        OrdersCommand::ToLake => {
            let done = app.orders_to_lake(&crate::progress::Bars::new())?;
            println!(
                "{} collected orders written to the lake ({} receipt lines, {} new to the lake)",
                done.orders, done.lines, done.lines_imported
            );
        }
    }
    Ok(())
}

/// `unico audiences …`: audiences for social media and search ads (docs/audiences.md).
#[derive(Subcommand)]
pub enum AudiencesCommand {
    /// Write the hashed e-mails and phones of a segment's or a campaign's customers who gave
    /// the marketing consent, in Meta's or Google's layout, and the suppression list beside it
    /// (`<out>-suppression.csv`: withdrawn consent, erased customers). No contact in clear.
    Export {
        /// A segment of the published profiles (e.g. champions, at_risk).
        #[arg(long, conflicts_with = "campaign", required_unless_present = "campaign")]
        segment: Option<String>,
        /// A stored campaign: its customers with offers (never its holdout).
        #[arg(long)]
        campaign: Option<String>,
        /// `meta` (Custom Audiences) or `google` (Customer Match).
        #[arg(long)]
        format: String,
        /// The audience file (CSV).
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs `unico audiences …`.
pub fn audiences(app: &App, command: AudiencesCommand) -> Result<()> {
    match command {
        AudiencesCommand::Export { segment, campaign, format, out } => {
            let platform = unico_app::audiences::Platform::parse(&format)?;
            let who = match (segment, campaign) {
                (Some(s), None) => unico_app::audiences::Audience::Segment(s),
                (None, Some(c)) => unico_app::audiences::Audience::Campaign(c),
                _ => return Err(Error::new(Code::InputInvalid, "give --segment or --campaign")),
            };
            let done = app.export_audience(&who, platform, &out, &Caller::cli())?;
            println!(
                "{} customers with the marketing consent: {} rows ({} with an e-mail, {} with a phone) in {}",
                done.customers,
                done.rows,
                done.with_email,
                done.with_phone,
                done.file.display()
            );
            println!("{} rows to suppress in {}", done.suppressed, done.suppression_file.display());
        }
    }
    Ok(())
}

/// `unico triggers …`: offers at a moment of a customer's life (docs/triggers.md).
#[derive(Subcommand)]
pub enum TriggersCommand {
    /// Check `triggers.toml` in the data directory.
    Check,
    /// Issue the day's triggered offers (idempotent: a day run twice issues nothing twice).
    Run {
        /// The day, in the chain's calendar (default: today there).
        #[arg(long)]
        as_of: Option<String>,
        /// The tenant the e-mails' links name (as `unico serve` knows it).
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

/// Runs `unico triggers …`.
pub fn triggers(app: &App, command: TriggersCommand) -> Result<()> {
    match command {
        TriggersCommand::Check => match app.triggers()? {
            Some((_, specs)) => {
                for t in specs {
                    println!(
                        "{:<28} {:<20} {} off from {}, {} days, cool-down {} days, {:.0} % held out, budget {} a month",
                        t.name,
                        t.kind,
                        t.amount_off_cents,
                        t.min_spend_cents,
                        t.valid_days,
                        t.cool_down_days,
                        100.0 * t.holdout_share,
                        t.monthly_budget_cents
                    );
                }
            }
            None => return Err(Error::new(Code::NotFound, "no triggers.toml in the data directory")),
        },
        TriggersCommand::Run { as_of, tenant, format } => {
            let run = app.run_triggers(as_of.as_deref(), &tenant, &Caller::cli())?;
            match format {
                OutputFormat::Json => super::print_json(&run),
                OutputFormat::Table => {
                    println!("Triggers of {}:", run.day);
                    for t in &run.triggers {
                        if t.already_run {
                            println!("  {:<28} already run for this day: nothing issued again", t.name);
                            continue;
                        }
                        println!(
                            "  {:<28} {} at the moment, {} cooling down, {} offers ({} announced by e-mail), {} held out, {} over budget{}",
                            t.name,
                            t.eligible,
                            t.cooling_down,
                            t.issued,
                            t.announced,
                            t.held_out,
                            t.over_budget,
                            t.campaign.as_deref().map(|c| format!(" (campaign \"{c}\")")).unwrap_or_default()
                        );
                    }
                }
            }
        }
    }
    Ok(())
}
