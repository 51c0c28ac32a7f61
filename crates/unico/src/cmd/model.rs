//! `unico model …` and `unico recommend`.

use super::print_json;
use crate::progress::Bars;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use unico_app::model::RecommendRequest;
use unico_app::{App, Result};
use unico_model::build::ModelParams;
use unico_model::clv::TimeUnit;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Read the lake up to a date and write per-customer profiles and model.json.
    Build {
        /// Last day of data to use (YYYY-MM-DD, chain's time zone). Default: the last day in the lake.
        #[arg(long)]
        as_of: Option<String>,
        /// Time unit of the models: days or weeks (default: the `[model]` setting).
        #[arg(long)]
        unit: Option<TimeUnit>,
        /// Print model.json instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Publish a model built elsewhere (the Spark job `spark/unico_spark.py` writes
    /// model.json, profiles.parquet and habits.parquet into a folder) as the current model.
    Import {
        /// The folder with model.json, profiles.parquet and habits.parquet.
        dir: PathBuf,
    },
    /// Print the fitted population parameters of the last build.
    Params {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fit BG/NBD and Gamma-Gamma to a customer summary CSV (the `lifetimes` layout:
    /// customer_id, frequency, recency, T, monetary_value) and score every customer.
    FitSummary {
        /// The summary CSV.
        file: PathBuf,
        /// Unit of recency and T in the file: days or weeks.
        #[arg(long, default_value = "days")]
        unit: TimeUnit,
        /// Horizon of the expected purchases, in the file's unit.
        #[arg(long, default_value_t = 30.0)]
        horizon: f64,
        /// Write each customer's scores here (CSV).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub struct RecommendArgs {
    /// Last day of data to learn from (YYYY-MM-DD). Default: the last day in the lake.
    #[arg(long)]
    as_of: Option<String>,
    /// Products per customer.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Only products the customer has never bought.
    #[arg(long)]
    exclude_purchased: bool,
    /// The CSV to write: customer_id,rank,sku,score,reason.
    #[arg(long)]
    out: PathBuf,
    /// Write the pseudonymous customer key instead of the card id (for analysis that must
    /// not see card numbers; needs no customer master).
    #[arg(long)]
    by_key: bool,
}

/// `unico model …`.
pub fn run(data: &Path, command: ModelCommand) -> Result<()> {
    match command {
        ModelCommand::Build { as_of, unit, json } => {
            let app = App::open(data)?;
            let built = app.build_model(as_of.as_deref(), unit, &Bars::new())?;
            print_published(&built.published);
            if json { print_json(&built.params) } else { print_params(&built.params, &app.model_path()) }
        }
        ModelCommand::Import { dir } => {
            let app = App::open(data)?;
            let built = app.import_model(&dir, &Bars::new())?;
            print_published(&built.published);
            print_params(&built.params, &app.model_path());
        }
        ModelCommand::Params { json } => {
            let app = App::open(data)?;
            let params = app.model_params()?;
            if json { print_json(&params) } else { print_params(&params, &app.model_path()) }
        }
        ModelCommand::FitSummary { file, unit, horizon, out } => {
            let report = unico_app::model::fit_summary(&file, unit, horizon, out.as_deref())?;
            println!("{}", super::sorted_json(&report));
        }
    }
    Ok(())
}

/// What a build published to the operational store (on standard error).
pub fn print_published(p: &unico_store::profiles::Published) {
    eprintln!(
        "published {} profiles and {} due items to the operational store ({} keys without a card in the customer master left out)",
        p.profiles, p.due_items, p.without_card
    );
}

/// The model's parameters for people.
pub fn print_params(p: &ModelParams, dir: &Path) {
    let unit = p.unit.name();
    println!(
        "model as of {} ({} customers, {} with a repeat purchase, {} lines)",
        p.as_of, p.customers, p.repeat_customers, p.lines
    );
    let b = &p.bgnbd;
    println!(
        "  BG/NBD ({unit}): r = {:.4}, alpha = {:.4} {unit}, a = {:.4}, b = {:.4}, log-likelihood = {:.1}",
        b.r, b.alpha, b.a, b.b, b.log_likelihood
    );
    let g = &p.gamma_gamma;
    println!(
        "  Gamma-Gamma: p = {:.4}, q = {:.4}, gamma = {:.4} (currency units), on {} repeat customers",
        g.p, g.q, g.gamma, g.customers
    );
    println!("  RFM segments:");
    for (segment, n) in &p.segments {
        println!("    {segment:<22} {n:>10}");
    }
    println!("  profiles: {}", dir.join(unico_model::build::PROFILES_FILE).display());
    let h = &p.habits;
    println!(
        "  habits: {} customer x category, {} frequent products, {} with a cycle ({} overdue): {}",
        h.categories,
        h.products,
        h.with_cycle,
        h.overdue,
        dir.join(unico_model::habits::HABITS_FILE).display()
    );
}

/// `unico recommend`.
pub fn recommend(app: &App, args: RecommendArgs) -> Result<()> {
    let req = RecommendRequest {
        as_of: args.as_of,
        k: args.k,
        exclude_purchased: args.exclude_purchased,
        out: args.out,
        by_key: args.by_key,
    };
    let r = app.recommend(&req, &Bars::new())?;
    println!(
        "{} customers, {} products each, as of {} (horizon {} days){}: {}",
        r.customers,
        r.k,
        r.as_of,
        r.horizon_days,
        if r.exclude_purchased { ", never bought before" } else { "" },
        r.out.display()
    );
    if r.without_card > 0 {
        eprintln!(
            "{} customers have no card in the customer master: written by their pseudonymous key (import customers to get card ids)",
            r.without_card
        );
    }
    if let Some(t) = &r.tuning {
        let w = &t.settings;
        eprintln!(
            "weights chosen on a time split (training to {}, judged on the next {} days, {} customers): recency half-life {} days, trend {}, season {}, people like them {}, prior strength {}, popularity {}, category {} — precision@{} {:.4} (given weights {:.4})",
            unico_core::day::date_of(t.cut_day),
            w.horizon_days,
            t.customers,
            w.recency_days,
            w.trend_weight,
            w.season_weight,
            w.people_weight,
            w.prior_strength,
            w.popularity_weight,
            w.category_weight,
            r.k,
            t.precision_chosen,
            t.precision_given
        );
    }
    eprintln!("read {:.1} s, fit {:.1} s, recommend {:.1} s", r.seconds.read, r.seconds.fit, r.seconds.score);
    Ok(())
}
