//! `unico`: the command line. Every verb parses its arguments, calls one operation of the
//! service layer (`unico-app`) and prints its typed result; progress bars and exit codes
//! live here and nowhere else.

mod cmd;
mod progress;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use unico_app::{App, Result};

/// Unico: the one-to-one loyalty engine.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    /// The data directory (settings, lake, rejects, secrets).
    #[arg(long, global = true, env = "UNICO_DATA", default_value = "unico-data")]
    data: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: unico.toml, lake/, rejects/ and a new pseudonymisation key.
    Init,
    /// Import receipts, products or stores from CSV, Parquet or JSON Lines files.
    Import(cmd::import::ImportArgs),
    /// The customer master: single customer view, duplicates, consents, export, erasure.
    #[command(subcommand)]
    Customers(cmd::customers::CustomersCommand),
    /// The behavioural model: build profiles, print parameters, fit a summary file.
    #[command(subcommand)]
    Model(cmd::model::ModelCommand),
    /// Recommend products to every customer: due repurchases and products they are likely to try.
    Recommend(cmd::model::RecommendArgs),
    /// Plan a campaign: every customer's offers under the policy's budgets, the holdout,
    /// codes and reasons, written to a directory (see docs/offers.md).
    Plan(cmd::plan::PlanArgs),
    /// Try a policy on a simulated chain: Unico's plan against a mass flyer, a segment plan
    /// and the oracle, each replayed with and without its offers (true incremental margin).
    SimulateCampaign(cmd::simulate::SimulateArgs),
    /// Learn from a campaign's redemptions: the response to each depth, by price
    /// sensitivity, used by the next plans.
    Learn(cmd::plan::LearnArgs),
    /// The programme's KPIs by day, week or month (card vs no card, margins, customers,
    /// offers, uplift, satisfaction), by store, channel or segment (see docs/kpis.md).
    Kpi(cmd::kpi::KpiArgs),
    /// Measure campaigns against their holdouts: uplift with intervals, CUPED, the
    /// always-valid sequential test, per offer type.
    Measure(cmd::kpi::MeasureArgs),
    /// The results-based bill of a month: the incremental revenue and margin of the campaigns
    /// that ended in it, against their holdouts, and the fee by the tariff in unico.toml
    /// (CSV and a printable page; docs/billing.md).
    Billing(cmd::kpi::BillingArgs),
    /// Goals on KPIs: add them, see where they stand and where they are heading.
    #[command(subcommand)]
    Goals(cmd::kpi::GoalsCommand),
    /// Messages waiting to be sent (goal alerts, the app's codes and flyer links).
    Outbox {
        /// Show sent messages too.
        #[arg(long)]
        all: bool,
        /// Show each message's text under it.
        #[arg(long)]
        body: bool,
        /// Send the waiting e-mails now through `[mail] smtp_url` (`unico serve` does every few seconds).
        #[arg(long)]
        send: bool,
    },
    /// Print the data-quality report of the lake.
    Quality {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Serve the back office's API (docs/api.md) for this data directory, or for several
    /// retailers with --tenants.
    Serve(cmd::serve::ServeArgs),
    /// The back office's users: add, list, disable.
    #[command(subcommand)]
    Users(cmd::serve::UsersCommand),
    /// Stored campaigns: list, publish, stop.
    #[command(subcommand)]
    Campaigns(cmd::serve::CampaignsCommand),
    /// Tills and web shops allowed to call the tills' API (docs/pos.md): add, list, revoke.
    #[command(subcommand)]
    Terminals(cmd::serve::TerminalsCommand),
    /// The shoppers' app: the privacy policy, the chain's promotions (the flyer), tickets.
    #[command(subcommand)]
    App(cmd::app::AppCommand),
    /// Click-and-collect: pickup slots, orders, and the batch step writing collected orders
    /// to the lake (docs/orders.md).
    #[command(subcommand)]
    Orders(cmd::app::OrdersCommand),
    /// Audiences for social media and search ads: hashed contacts of a segment or a campaign,
    /// with the suppression list (docs/audiences.md).
    #[command(subcommand)]
    Audiences(cmd::app::AudiencesCommand),
    /// Triggered offers: a birthday, a card's anniversary or first weeks, a win-back, an
    /// apology, a first online order — each day, with holdouts (docs/triggers.md).
    #[command(subcommand)]
    Triggers(cmd::app::TriggersCommand),
    /// Generate a synthetic chain (with its planted truth) in the canonical import format.
    Generate(cmd::import::GenerateArgs),
    /// Generate a small chain, import it, print the import and quality summaries, build the
    /// model, publish a campaign, and serve the back office and the app on it.
    Demo {
        /// Simulated people.
        #[arg(long, default_value_t = 2_000)]
        customers: u64,
        /// Days simulated.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Seed of the simulation.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Stop after preparing the data; do not serve the back office and the app.
        #[arg(long)]
        no_serve: bool,
        /// Where to serve them.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
    },
}

/// Table or JSON.
#[derive(Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    /// A table for people.
    Table,
    /// JSON for programs.
    Json,
}

/// mimalloc: the server allocates many small strings per request (a basket's lines); glibc's
/// allocator spent a tenth of the tills' API time (bench/pos.sh, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Files and directories Unico creates hold personal data or keys (the store, rejects
    // with card numbers, campaign exports, secrets): readable by their owner only.
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe { libc::umask(0o077) };
    // A reader that stops early (`unico customers cards | head -1`) ends the process
    // quietly, as it does any Unix tool, instead of a panic on the broken pipe.
    // SAFETY: restoring the default action of one signal, before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            for p in e.problems() {
                eprintln!("{}:{}: {}", p.file, p.line, p.message);
            }
            eprintln!("error: {}", e.chain());
            ExitCode::from(e.code().exit_status())
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let data = &cli.data;
    match cli.command {
        Command::Init => {
            let app = App::init(data)?;
            println!("Unico data directory ready at {}", app.root().display());
            println!("  settings: {}", app.root().join("unico.toml").display());
            println!("  lake:     {}", app.lake_dir().display());
            println!("  rejects:  {}", app.rejects_dir().display());
            Ok(())
        }
        Command::Import(args) => cmd::import::import(&App::open(data)?, args),
        Command::Quality { format } => {
            let app = App::open(data)?;
            let report = app.quality()?;
            match format {
                OutputFormat::Json => cmd::print_json(&report),
                OutputFormat::Table => cmd::import::print_quality(&report, &app.settings().currency),
            }
            Ok(())
        }
        Command::Generate(args) => cmd::import::generate(data, &args),
        Command::Serve(args) => cmd::serve::serve(data, args),
        Command::Users(command) => cmd::serve::users(&App::open(data)?, command),
        Command::Terminals(command) => cmd::serve::terminals(&App::open(data)?, command),
        Command::Orders(command) => cmd::app::orders(&App::open(data)?, command),
        Command::Audiences(command) => cmd::app::audiences(&App::open(data)?, command),
        Command::Triggers(command) => cmd::app::triggers(&App::open(data)?, command),
        Command::Campaigns(command) => cmd::serve::campaigns(&App::open(data)?, command),
        Command::App(command) => cmd::app::run(&App::open(data)?, command),
        Command::Demo { customers, days, seed, no_serve, addr } => {
            cmd::import::demo(data, customers, days, seed)?;
            cmd::serve::demo(data, no_serve, &addr)
        }
        Command::Model(command) => cmd::model::run(data, command),
        Command::Recommend(args) => cmd::model::recommend(&App::open(data)?, args),
        Command::Plan(args) => cmd::plan::plan(&App::open(data)?, args),
        Command::Learn(args) => cmd::plan::learn(&App::open(data)?, args),
        Command::Kpi(args) => cmd::kpi::kpi(&App::open(data)?, args),
        Command::Measure(args) => cmd::kpi::measure(&App::open(data)?, args),
        Command::Billing(args) => cmd::kpi::billing(&App::open(data)?, args),
        Command::Goals(command) => cmd::kpi::goals(&App::open(data)?, command),
        Command::Outbox { send: true, .. } => {
            let app = App::open(data)?;
            let r = app.deliver_mail()?;
            println!("{} e-mails sent, {} given up, {} to try again", r.sent, r.dropped, r.retry);
            Ok(())
        }
        Command::Outbox { all, body, .. } => cmd::kpi::outbox(&App::open(data)?, all, body),
        Command::SimulateCampaign(args) => cmd::simulate::run(args),
        Command::Customers(command) => cmd::customers::run(&App::open(data)?, command),
    }
}
