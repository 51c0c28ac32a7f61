//! `unico`: the command line. Every verb parses its arguments and calls a library crate;
//! printing, progress bars and exit codes live here and nowhere else.

mod customers;
mod kpi;
mod model;
mod plan;
mod settings;
mod simlake;
mod simulate;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use settings::DataDir;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use unico_lake::import::{ImportOptions, ImportSummary, Phase, Progress};
use unico_lake::{Dataset, ErrorKind, Lake, Mapping};

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
    Import(ImportArgs),
    /// The customer master: single customer view, duplicates, consents, export, erasure.
    #[command(subcommand)]
    Customers(customers::CustomersCommand),
    /// The behavioural model: build profiles, print parameters, fit a summary file.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Recommend products to every customer: due repurchases and products they are likely to try.
    Recommend(model::RecommendArgs),
    /// Plan a campaign: every customer's offers under the policy's budgets, the holdout,
    /// codes and reasons, written to a directory (see docs/offers.md).
    Plan(plan::PlanArgs),
    /// Try a policy on a simulated chain: Unico's plan against a mass flyer, a segment plan
    /// and the oracle, each replayed with and without its offers (true incremental margin).
    SimulateCampaign(simulate::SimulateArgs),
    /// Learn from a campaign's redemptions: the response to each depth, by price
    /// sensitivity, used by the next plans.
    Learn(plan::LearnArgs),
    /// The programme's KPIs by day, week or month (card vs no card, margins, customers,
    /// offers, uplift, satisfaction), by store, channel or segment (see docs/kpis.md).
    Kpi(kpi::KpiArgs),
    /// Measure campaigns against their holdouts: uplift with intervals, CUPED, the
    /// always-valid sequential test, per offer type.
    Measure(kpi::MeasureArgs),
    /// Goals on KPIs: add them, see where they stand and where they are heading.
    #[command(subcommand)]
    Goals(kpi::GoalsCommand),
    /// Messages waiting to be sent (goal alerts).
    Outbox {
        /// Show sent messages too.
        #[arg(long)]
        all: bool,
    },
    /// Print the data-quality report of the lake.
    Quality {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Generate a synthetic chain (with its planted truth) in the canonical import format.
    Generate(GenerateArgs),
    /// Generate a small chain, import it, print the import and quality summaries, build the model.
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
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum DatasetArg {
    Receipts,
    Products,
    Stores,
    Customers,
    Surveys,
}

#[derive(Args)]
struct ImportArgs {
    /// What the files hold.
    #[arg(value_enum)]
    dataset: DatasetArg,
    /// The files (each one is a separate import).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// A mapping file (TOML) describing the source; see docs/import.md.
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// Refuse to import a file when more than this share of its rows is rejected (0–1).
    #[arg(long)]
    max_reject_rate: Option<f64>,
    /// Print each summary as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Customers: do not merge duplicate registrations after the import.
    #[arg(long)]
    no_dedupe: bool,
}

#[derive(Args)]
struct GenerateArgs {
    /// Simulated people (members and non-members).
    #[arg(long, default_value_t = 2_000)]
    customers: u64,
    /// Physical stores (an online shop is added).
    #[arg(long, default_value_t = 8)]
    stores: usize,
    /// Products in the catalogue.
    #[arg(long, default_value_t = 1_500)]
    products: usize,
    /// Days simulated.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// First simulated day (YYYY-MM-DD, the chain's local calendar).
    #[arg(long, default_value = "2025-01-01")]
    start: String,
    /// Seed: same seed, same files byte for byte.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output folder (master data, customers and truth; receipts too unless --into-lake).
    #[arg(long)]
    out: PathBuf,
    /// Stream the receipts straight into the lake of --data (created if missing) instead of
    /// writing receipts.csv, then import the generated stores and products: any size of
    /// chain in bounded memory and disk.
    #[arg(long)]
    into_lake: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            let lake = e.downcast_ref::<unico_lake::Error>().map(|e| e.kind());
            let store = e.downcast_ref::<unico_store::Error>().map(|e| e.kind());
            ExitCode::from(match (lake, store) {
                (Some(ErrorKind::TooManyRejects), _) => 3,
                (Some(ErrorKind::UnusableFile) | Some(ErrorKind::Mapping), _) => 2,
                (_, Some(unico_store::ErrorKind::Input)) => 2,
                (_, Some(unico_store::ErrorKind::NotFound)) => 4,
                _ => 1,
            })
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init => {
            let dir = DataDir::init(&cli.data)?;
            println!("Unico data directory ready at {}", dir.root.display());
            println!("  settings: {}", dir.root.join("unico.toml").display());
            println!("  lake:     {}", dir.lake_dir().display());
            println!("  rejects:  {}", dir.rejects_dir().display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(args) => {
            let dir = DataDir::open(&cli.data)?;
            let dataset = match args.dataset {
                DatasetArg::Receipts => Dataset::Receipts,
                DatasetArg::Products => Dataset::Products,
                DatasetArg::Stores => Dataset::Stores,
                DatasetArg::Customers => Dataset::Customers,
                DatasetArg::Surveys => Dataset::Surveys,
            };
            if dataset == Dataset::Surveys {
                let mapping = match &args.mapping {
                    Some(p) => Mapping::from_file(p, dataset)?,
                    None => Mapping::default(),
                };
                for summary in customers::import_surveys(&dir, &args.files, &mapping, args.max_reject_rate)? {
                    if args.json {
                        println!("{}", serde_json_string(&summary));
                    } else {
                        print_summary(&summary);
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            if dataset == Dataset::Customers {
                let mapping = match &args.mapping {
                    Some(p) => Mapping::from_file(p, dataset)?,
                    None => Mapping::default(),
                };
                for summary in customers::import(&dir, &args.files, &mapping, args.max_reject_rate, !args.no_dedupe)? {
                    if args.json {
                        println!("{}", serde_json_string(&summary));
                    } else {
                        print_summary(&summary);
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            let mapping = match &args.mapping {
                Some(p) => Mapping::from_file(p, dataset)?,
                None => Mapping::default(),
            };
            for file in &args.files {
                let summary = import_one(&dir, dataset, file, &mapping, args.max_reject_rate)?;
                if args.json {
                    println!("{}", serde_json_string(&summary));
                } else {
                    print_summary(&summary);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Quality { format } => {
            let dir = DataDir::open(&cli.data)?;
            let lake = Lake::open(dir.lake_dir())?;
            let report = unico_lake::quality::report(&lake)?;
            match format {
                OutputFormat::Json => println!("{}", serde_json_string(&report)),
                OutputFormat::Table => print_quality(&report, &dir.settings.currency),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(args) if args.into_lake => generate_into_lake(&cli.data, &args),
        Command::Generate(args) => {
            let config = chain_config(&args)?;
            let summary = generate(&config, &args.out)?;
            println!(
                "generated {} receipts, {} lines ({} receipts without card), {} customer records ({} people registered twice) in {}",
                summary.receipts,
                summary.lines,
                summary.receipts_without_card,
                summary.customer_records,
                summary.duplicate_people,
                args.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { customers, days, seed } => demo(&cli.data, customers, days, seed),
        Command::Model(command) => {
            model::run(&cli.data, command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Recommend(args) => {
            model::recommend(&cli.data, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => {
            plan::run(&cli.data, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kpi(args) => {
            kpi::kpi(&cli.data, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Measure(args) => {
            kpi::measure(&cli.data, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Goals(command) => {
            kpi::goals(&cli.data, &command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Outbox { all } => {
            kpi::outbox(&cli.data, all)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Learn(args) => {
            plan::learn(&cli.data, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::SimulateCampaign(args) => {
            simulate::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Customers(command) => {
            let dir = DataDir::open(&cli.data)?;
            customers::run(&dir, command)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn chain_config(args: &GenerateArgs) -> Result<unico_sim::ChainConfig> {
    let start: jiff::civil::Date =
        args.start.parse().with_context(|| format!("--start {:?} is not a date (YYYY-MM-DD)", args.start))?;
    if args.days == 0 || args.customers == 0 {
        bail!("--days and --customers must be at least 1");
    }
    Ok(unico_sim::ChainConfig {
        customers: args.customers,
        stores: args.stores,
        products: args.products,
        days: args.days,
        start,
        seed: args.seed,
    })
}

fn generate(config: &unico_sim::ChainConfig, out: &Path) -> Result<unico_sim::GenerateSummary> {
    let bar = ProgressBar::new(config.customers).with_message("simulating people");
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})").expect("valid template"));
    let summary = unico_sim::generate(config, out, &|done, _| bar.set_position(done))
        .with_context(|| format!("cannot write the chain to {}", out.display()))?;
    bar.finish_and_clear();
    Ok(summary)
}

fn generate_into_lake(data: &Path, args: &GenerateArgs) -> Result<ExitCode> {
    let config = chain_config(args)?;
    let dir = DataDir::init(data)?;
    let lake = Lake::open(dir.lake_dir())?;
    let bar = ProgressBar::new(config.customers).with_message("simulating people into the lake");
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})").expect("valid template"));
    let progress = |done: u64, _| bar.set_position(done);
    let generated = std::cell::RefCell::new(None);
    let source = simlake::SimSource::new(config.clone(), args.out.clone(), &progress, &generated);
    let quiet = |_| {};
    let options = ImportOptions {
        mapping: Mapping::default(),
        chain_tz: dir.chain_tz(),
        pseudonymiser: dir.pseudonymiser()?,
        rejects_dir: dir.rejects_dir(),
        max_reject_rate: Some(0.0),
        progress: &quiet,
    };
    let label = format!("simulator (seed {}, {} people, {} days)", config.seed, config.customers, config.days);
    let summary = unico_lake::import::import_receipts_from(&lake, Box::new(source), &label, &options)?;
    bar.finish_and_clear();
    print_summary(&summary);
    for (dataset, file) in [(Dataset::Stores, "stores.csv"), (Dataset::Products, "products.csv")] {
        print_summary(&import_one(&dir, dataset, &args.out.join(file), &Mapping::default(), Some(0.0))?);
    }
    if let Some(g) = generated.borrow().as_ref() {
        println!(
            "generated {} receipts, {} lines ({} without card) into {}",
            g.receipts,
            g.lines,
            g.receipts_without_card,
            dir.lake_dir().display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn import_one(
    dir: &DataDir,
    dataset: Dataset,
    file: &Path,
    mapping: &Mapping,
    max_reject_rate: Option<f64>,
) -> Result<ImportSummary> {
    if let Some(r) = max_reject_rate.filter(|r| !(0.0..=1.0).contains(r)) {
        bail!("--max-reject-rate must be between 0 and 1, got {r}");
    }
    let lake = Lake::open(dir.lake_dir())?;
    let bar = ProgressBar::new(std::fs::metadata(file).map(|m| m.len()).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
            .expect("valid template"),
    );
    bar.set_message(format!("importing {}", file.display()));
    let crash = test_crash_point();
    let progress = |p: Progress| {
        if crash.as_ref().is_some_and(|point| point.matches(p)) {
            // Test hook (UNICO_TEST_CRASH_AT): die like a killed process, mid-import.
            std::process::abort();
        }
        match p.phase {
            Phase::Reading => bar.set_position(p.done),
            Phase::Deduplicating => {
                bar.set_message(format!("checking month {}/{} for duplicates", p.done + 1, p.total))
            }
            Phase::Publishing => bar.set_message("publishing"),
        }
    };
    let options = ImportOptions {
        mapping: mapping.clone(),
        chain_tz: dir.chain_tz(),
        pseudonymiser: dir.pseudonymiser()?,
        rejects_dir: dir.rejects_dir(),
        max_reject_rate,
        progress: &progress,
    };
    let result = unico_lake::import_file(&lake, dataset, file, &options);
    bar.finish_and_clear();
    result.with_context(|| format!("{} not imported", file.display()))
}

/// Where `UNICO_TEST_CRASH_AT` asks the process to abort: `reading`, `deduplicating` or
/// `publishing` (for the crash-safety tests; never set in production).
struct CrashPoint(Phase);

impl CrashPoint {
    fn matches(&self, p: Progress) -> bool {
        p.phase == self.0 && (p.phase != Phase::Reading || p.done > 0)
    }
}

fn test_crash_point() -> Option<CrashPoint> {
    match std::env::var("UNICO_TEST_CRASH_AT").ok()?.as_str() {
        "reading" => Some(CrashPoint(Phase::Reading)),
        "deduplicating" => Some(CrashPoint(Phase::Deduplicating)),
        "publishing" => Some(CrashPoint(Phase::Publishing)),
        _ => None,
    }
}

fn serde_json_string<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("summaries serialise")
}

fn print_summary(s: &ImportSummary) {
    println!("import {} ({}) from {}", s.import_id, s.dataset, s.file);
    println!("  rows read            {:>12}", s.rows_read);
    println!("  imported             {:>12}", s.rows_imported);
    if s.rows_updated > 0 {
        println!("  updated              {:>12}", s.rows_updated);
    }
    let unchanged = match s.dataset.as_str() {
        "customers" => "unchanged          ",
        "surveys" => "already stored     ",
        _ => "already in the lake",
    };
    println!("  {unchanged}  {:>12}", s.rows_already_in_lake);
    println!("  rejected             {:>12}", s.rows_rejected());
    for (reason, n) in &s.rejected {
        println!("    {reason:<20} {n:>10}");
    }
    for (warning, n) in &s.warnings {
        println!("  warning: {warning:<19} {n:>8} rows kept");
    }
    if let Some(f) = &s.rejects_file {
        println!("  rejected rows, with line numbers and reasons: {f}");
    }
}

fn money(cents: i64) -> String {
    unico_core::Money::from_cents(cents).to_string()
}

fn print_quality(r: &unico_lake::quality::QualityReport, currency: &str) {
    println!("Data quality");
    println!(
        "{:<8} {:>10} {:>12} {:>16} {:>12} {:>12}",
        "month",
        "receipts",
        "lines",
        &format!("revenue {currency}"),
        "card rev %",
        "card rcpt %"
    );
    for m in &r.months {
        let pct = |a: f64, b: f64| {
            if b == 0.0 { "-".to_string() } else { format!("{:.1}", 100.0 * a / b) }
        };
        println!(
            "{:<8} {:>10} {:>12} {:>16} {:>12} {:>12}",
            m.month,
            m.receipts,
            m.lines,
            money(m.revenue_cents),
            pct(m.card_revenue_cents as f64, m.revenue_cents as f64),
            pct(m.card_receipts as f64, m.receipts as f64)
        );
    }
    let share = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0));
    println!(
        "loyalty share of revenue {}, of receipts {}; {} cards",
        share(r.card_revenue_share()),
        share(r.card_receipt_share()),
        r.cards
    );
    println!(
        "stores: {} in receipts, {} in master data, {} without master data",
        r.stores_in_receipts, r.stores_in_master, r.stores_without_master
    );
    println!(
        "products: {} sold, {} in master data, {} without master data ({} lines)",
        r.products_in_receipts, r.products_in_master, r.products_without_master, r.lines_without_product_master
    );
    if r.rejected_by_reason.is_empty() {
        println!("rejects: none in {} imports", r.imports);
    } else {
        let list: Vec<String> = r.rejected_by_reason.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("rejects in {} imports: {}", r.imports, list.join(", "));
    }
}

fn demo(data: &Path, customers: u64, days: u32, seed: u64) -> Result<ExitCode> {
    let dir = DataDir::init(data)?;
    let source = dir.root.join("demo-source");
    let config = unico_sim::ChainConfig { customers, days, seed, ..Default::default() };
    println!("Generating a chain of {customers} people over {days} days (seed {seed}) in {}", source.display());
    let g = generate(&config, &source)?;
    println!("  {} receipts, {} lines, {} receipts without card", g.receipts, g.lines, g.receipts_without_card);
    for (dataset, file) in
        [(Dataset::Stores, "stores.csv"), (Dataset::Products, "products.csv"), (Dataset::Receipts, "receipts.csv")]
    {
        let summary = import_one(&dir, dataset, &source.join(file), &Mapping::default(), None)?;
        print_summary(&summary);
    }
    for s in customers::import(&dir, &[source.join("customers.csv")], &Mapping::default(), None, true)? {
        print_summary(&s);
    }
    let lake = Lake::open(dir.lake_dir())?;
    print_quality(&unico_lake::quality::report(&lake)?, &dir.settings.currency);
    let params = model::build_model(&dir, None, &dir.settings.model)?;
    model::print_params(&params, &dir.model_dir());
    kpi::monthly_report(&dir.root)?;
    println!("The single customer view: try  unico --data {} customers show 4000000003", dir.root.display());
    println!("Recommendations: try  unico --data {} recommend --k 10 --out recs.csv", dir.root.display());
    println!(
        "A campaign: try  unico --data {} plan --policy docs/examples/policy.toml --out campaign",
        dir.root.display()
    );
    println!(
        "Goals: try  unico --data {} goals add --kpi loyalty_share --target 0.7 --by 2026-06-30",
        dir.root.display()
    );
    println!(
        "The lake is Parquet: try  duckdb -c \"select count(*) from read_parquet('{}/receipt_lines/*/*.parquet')\"",
        dir.lake_dir().display()
    );
    Ok(ExitCode::SUCCESS)
}
