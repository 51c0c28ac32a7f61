//! `unico plan` and `unico learn`.

use crate::progress::Bars;
use std::path::PathBuf;
use unico_app::plan::{LearnRequest, PlanRequest};
use unico_app::{App, Result};
use unico_offers::plan::euros;
use unico_offers::response::Arm;

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The policy file (TOML); see docs/offers.md.
    #[arg(long)]
    policy: PathBuf,
    /// The day the model was built as of (default: the model's); the plan refuses a model
    /// built as of another day.
    #[arg(long)]
    as_of: Option<String>,
    /// Directory to write the campaign to (created; must not hold a campaign already).
    #[arg(long)]
    out: PathBuf,
    /// Write the files only: do not store the campaign for the app and the tills (a trial).
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
pub struct LearnArgs {
    /// The campaign directory `unico plan` wrote.
    #[arg(long, required_unless_present = "history", conflicts_with = "history")]
    campaign: Option<PathBuf>,
    /// Learn who redeems from the imported promotion history (campaigns, coupons, members,
    /// redemptions) instead of from one of Unico's campaigns.
    #[arg(long)]
    history: bool,
    /// With --history: fit on all but the latest campaigns and test on those (ROC-AUC,
    /// Brier score, reliability, beside two baselines) instead of fitting on all.
    #[arg(long, requires = "history")]
    evaluate: bool,
    /// With --history: predict for every member of these campaigns, from a model fitted
    /// only on campaigns over before each started and data dated before it.
    #[arg(long, requires = "history", num_args = 1..)]
    predict: Vec<String>,
    /// Where --predict writes campaign_id, customer_id, p_redeem (CSV).
    #[arg(long, requires = "predict")]
    out: Option<PathBuf>,
    /// With --history: print the outcome as JSON.
    #[arg(long)]
    json: bool,
    /// The redeemed offers: a CSV with a `code` column (from the tills or the web shop).
    /// Without it: the redemptions the tills confirmed through the API.
    #[arg(long)]
    redemptions: Option<PathBuf>,
}

/// `unico plan`.
pub fn plan(app: &App, args: PlanArgs) -> Result<()> {
    let req = PlanRequest { policy: args.policy, as_of: args.as_of, out: args.out, dry_run: args.dry_run };
    let p = app.plan_campaign(&req, &Bars::new())?;
    let s = &p.by_status;
    println!("campaign {:?}, {} to {}: {}", p.name, p.valid_from, p.valid_to, p.out.display());
    println!(
        "  {} customers: {} with personal offers, {} non-personal only (no profiling consent), {} held out, {} outside the policy, {} without marketing consent, {} with no offer worth its cost",
        p.customers, s.personal, s.generic, s.holdout, s.excluded, s.no_consent, s.no_offer
    );
    println!(
        "  {} offers, {} distinct offer sets among {} customers",
        p.offers,
        p.distinct_offer_sets,
        s.personal + s.generic
    );
    println!(
        "  budget {} (basis {}): expected cost {}, worst case {}; expected incremental margin {}",
        euros(p.budget_cents),
        p.basis,
        euros(p.expected_cost_cents),
        euros(p.worst_cost_cents),
        euros(p.expected_incremental_margin_cents)
    );
    if p.dry_run {
        println!("  dry run: not stored for the app and the tills");
    } else {
        println!("  stored as {:?}: the app shows the offers, the tills accept the codes", p.campaign_id);
    }
    eprintln!("planned in {:.1} s", p.seconds);
    Ok(())
}

/// `unico learn`.
pub fn learn(app: &App, args: LearnArgs) -> Result<()> {
    if args.history {
        return learn_history(app, args);
    }
    let campaign = args.campaign.expect("clap requires --campaign without --history");
    let l = app.learn(&LearnRequest { campaign, redemptions: args.redemptions })?;
    println!(
        "learned from {:?}: {} offers, {} redeemed ({} recorded in the store; {} redemption lines, {} rejected{})",
        l.campaign_id,
        l.offers,
        l.redeemed,
        l.recorded,
        l.lines,
        l.rejected,
        l.rejects_file.as_ref().map(|f| format!(": {}", f.display())).unwrap_or_default()
    );
    println!("share of customers moved by a discount (g), by price-sensitivity band and depth:");
    for c in &l.cells {
        let what = match c.arm {
            Arm::Percent => String::new(),
            Arm::MultiBuy { buy, pay } => format!(" ({buy} for {pay})"),
            Arm::Spend => " (spend reward)".to_string(),
        };
        println!("  band {} depth {:>2}%{what}: {:.3} ({} offers)", c.band + 1, c.depth_percent, c.g, c.offers);
    }
    Ok(())
}

fn learn_history(app: &App, args: LearnArgs) -> Result<()> {
    use unico_app::plan::{HistoryOutcome, HistoryRequest};
    let req = HistoryRequest { evaluate: args.evaluate, predict: args.predict, out: args.out };
    let outcome = app.learn_history(&req, &Bars::new())?;
    if args.json {
        super::print_json(&outcome);
        return Ok(());
    }
    let weights = |m: &unico_model::redemption::RedemptionModel| {
        println!("weights on standardised features (positive: more likely to redeem):");
        for (f, w) in m.features.iter().zip(&m.weights) {
            println!("  {f:<16} {w:+.3}");
        }
    };
    match outcome {
        HistoryOutcome::Fitted { model, path, training_auc, response_campaigns, response_offers } => {
            println!(
                "fitted the redemption model on {} campaigns: {} (customer, campaign) rows, {} redeemed ({:.1} %); ROC-AUC on its own rows {training_auc:.3} (run --evaluate for an honest one)",
                model.campaigns.len(),
                model.rows,
                model.positives,
                100.0 * model.positives as f64 / model.rows.max(1) as f64
            );
            weights(&model);
            println!("saved to {}", path.display());
            println!(
                "the offers' response model learned from {response_offers} past coupons of {response_campaigns} campaigns not learned before; unico plan uses it where they cover a sensitivity band and depth"
            );
        }
        HistoryOutcome::Evaluated(e) => {
            println!(
                "trained on {} campaigns ({} rows: {}), tested on {} ({} rows, {} redeemed, {:.1} %)",
                e.train_campaigns.len(),
                e.train_rows,
                e.train_campaigns.join(", "),
                e.test_campaigns.join(", "),
                e.test_rows,
                e.test_redeemed,
                100.0 * e.test_redeemed as f64 / e.test_rows.max(1) as f64
            );
            println!("{:<24} {:>8} {:>8}", "scorer", "ROC-AUC", "Brier");
            for s in &e.scores {
                let brier = s.brier.map(|b| format!("{b:.4}")).unwrap_or_else(|| "-".into());
                println!("{:<24} {:>8.3} {:>8}", s.name, s.auc, brier);
            }
            println!("reliability of the model's probabilities (test rows):");
            println!("  {:<11} {:>7} {:>10} {:>9}", "predicted", "rows", "mean p", "observed");
            for b in &e.reliability {
                println!("  {:.1}–{:.1}     {:>7} {:>10.3} {:>9.3}", b.from, b.to, b.rows, b.predicted, b.observed);
            }
            println!("calibration error (rows-weighted mean |p − observed|): {:.3}", e.calibration_error);
            weights(&e.model);
        }
        HistoryOutcome::Predicted { out, rows, fitted_on } => {
            for (c, on) in &fitted_on {
                println!("{c}: fitted on the {} campaigns over before it started ({})", on.len(), on.join(", "));
            }
            println!("wrote {rows} predictions to {}", out.display());
        }
    }
    Ok(())
}
