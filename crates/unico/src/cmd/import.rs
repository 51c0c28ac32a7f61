//! `unico import`, `generate`, `demo` and the quality report's table.

use super::{money, print_json};
use crate::progress::Bars;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use unico_app::import::{ChainStep, ImportRequest};
use unico_app::{App, Result};
use unico_lake::Dataset;
use unico_lake::import::ImportSummary;

#[derive(Clone, Copy, ValueEnum)]
pub enum DatasetArg {
    Receipts,
    Products,
    Stores,
    Customers,
    Surveys,
    /// Past promotion campaigns: campaign_id, name, kind, start, end.
    Campaigns,
    /// Their coupons: coupon_id, campaign_id, percent_off, amount_off, buy_units, pay_units, min_spend.
    Coupons,
    /// What each coupon covered: coupon_id, sku.
    CouponProducts,
    /// Who received each campaign: campaign_id, customer_id.
    CampaignMembers,
    /// What was redeemed: customer_id, coupon_id and/or campaign_id, ts, store_id, receipt_id, discount.
    Redemptions,
}

#[derive(Args)]
pub struct ImportArgs {
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
pub struct GenerateArgs {
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
    /// Number the people from here (people N.. N+customers-1): with the same seed and
    /// calendar, adds to a chain generated earlier exactly the people a larger run would
    /// have had (its cards and receipt ids do not collide with the earlier ones).
    #[arg(long, default_value_t = 0)]
    first_person: u64,
    /// Output folder (master data, customers and truth; receipts too unless --into-lake).
    #[arg(long)]
    out: PathBuf,
    /// Stream the receipts straight into the lake of --data (created if missing) instead of
    /// writing receipts.csv, then import the generated stores and products: any size of
    /// chain in bounded memory and disk.
    #[arg(long)]
    into_lake: bool,
    /// Also run the chain's own past campaigns and write their history (campaigns.csv,
    /// coupons.csv, coupon_products.csv, campaign_members.csv, redemptions.csv and
    /// truth/history_response.csv); with --into-lake, import it too.
    #[arg(long)]
    history: bool,
    /// How much structure the shoppers have: `basic` (staples, category preferences,
    /// popularity; the chain of earlier versions, byte for byte) or `rich` (also household
    /// tastes, brand loyalty and switching, substitutes, complements, seasonal and new
    /// products, the chain's mass promotions; docs/simulator.md).
    #[arg(long, default_value = "basic")]
    shoppers: unico_sim::Shoppers,
}

/// `unico import DATASET FILE...`.
pub fn import(app: &App, args: ImportArgs) -> Result<()> {
    let dataset = match args.dataset {
        DatasetArg::Receipts => Dataset::Receipts,
        DatasetArg::Products => Dataset::Products,
        DatasetArg::Stores => Dataset::Stores,
        DatasetArg::Customers => Dataset::Customers,
        DatasetArg::Surveys => Dataset::Surveys,
        DatasetArg::Campaigns => Dataset::Campaigns,
        DatasetArg::Coupons => Dataset::Coupons,
        DatasetArg::CouponProducts => Dataset::CouponProducts,
        DatasetArg::CampaignMembers => Dataset::CampaignMembers,
        DatasetArg::Redemptions => Dataset::Redemptions,
    };
    let req = ImportRequest {
        dataset,
        files: args.files,
        mapping: args.mapping,
        max_reject_rate: args.max_reject_rate,
        dedupe: !args.no_dedupe,
    };
    let show = |s: &ImportSummary| if args.json { print_json(s) } else { print_summary(s) };
    let report = app.import(&req, &Bars::new(), &mut |s| show(s))?;
    // Files of the lake are shown as each ends; the store's once all are in.
    if matches!(dataset, Dataset::Customers | Dataset::Surveys) {
        if let Some(m) = &report.merged {
            println!("merged {} duplicate registrations (score ≥ {})", m.merges.len(), m.threshold);
        }
        report.summaries.iter().for_each(show);
    }
    Ok(())
}

/// `unico generate`.
pub fn generate(data: &Path, args: &GenerateArgs) -> Result<()> {
    let mut config =
        unico_app::import::chain_config(args.customers, args.stores, args.products, args.days, &args.start, args.seed)?;
    config.history = args.history;
    config.shoppers = args.shoppers;
    config.first_person = args.first_person;
    if args.into_lake {
        let app = App::init(data)?;
        let done = app.generate_into_lake(&config, &args.out, &Bars::new())?;
        done.imports.iter().for_each(print_summary);
        if let Some(g) = &done.generated {
            println!(
                "generated {} receipts ({} without card), {} lines into {}",
                g.receipts,
                g.receipts_without_card,
                g.lines,
                app.lake_dir().display()
            );
        }
        return Ok(());
    }
    let s = unico_app::import::generate(&config, &args.out, &Bars::new())?.summary;
    println!(
        "generated {} receipts, {} lines ({} receipts without card), {} customer records ({} people registered twice) in {}",
        s.receipts,
        s.lines,
        s.receipts_without_card,
        s.customer_records,
        s.duplicate_people,
        args.out.display()
    );
    Ok(())
}

/// `unico demo`: a small chain generated, imported, checked, modelled and reported on.
pub fn demo(data: &Path, customers: u64, days: u32, seed: u64) -> Result<()> {
    let app = App::init(data)?;
    let source = app.root().join("demo-source");
    let config = unico_sim::ChainConfig { customers, days, seed, ..Default::default() };
    println!("Generating a chain of {customers} people over {days} days (seed {seed}) in {}", source.display());
    app.load_simulated_chain(&config, &source, &Bars::new(), &mut |step| match step {
        ChainStep::Generated(g) => println!(
            "  {} receipts, {} lines, {} receipts without card",
            g.summary.receipts, g.summary.lines, g.summary.receipts_without_card
        ),
        ChainStep::Imported(s) => print_summary(s),
        ChainStep::Merged(m) => {
            println!("merged {} duplicate registrations (score ≥ {})", m.merges.len(), m.threshold)
        }
    })?;
    print_quality(&app.quality()?, &app.settings().currency);
    let built = app.build_model(None, None, &Bars::new())?;
    super::model::print_published(&built.published);
    super::model::print_params(&built.params, &app.model_path());
    super::kpi::monthly_report(&app)?;
    let promotions = app.seed_demo_app()?;
    let root = app.root().display();
    println!(
        "The shoppers' app: a sample privacy policy and {promotions} demo promotions for its flyer; try  unico --data {root} serve  and open /app/"
    );
    println!("The single customer view: try  unico --data {root} customers show 4000000003");
    println!("Recommendations: try  unico --data {root} recommend --k 10 --out recs.csv");
    println!("A campaign: try  unico --data {root} plan --policy docs/examples/policy.toml --out campaign");
    println!("Goals: try  unico --data {root} goals add --kpi loyalty_share --target 0.7 --by 2026-06-30");
    println!(
        "The lake is Parquet: try  duckdb -c \"select count(*) from read_parquet('{}/receipt_lines/*/*.parquet')\"",
        app.lake_dir().display()
    );
    Ok(())
}

/// An import's summary as a table.
pub fn print_summary(s: &ImportSummary) {
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

/// The data-quality report as a table.
pub fn print_quality(r: &unico_lake::quality::QualityReport, currency: &str) {
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
