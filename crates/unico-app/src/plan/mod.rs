//! Campaigns: a policy file, the model and the customer master become every customer's
//! offers ([`prepare`] gathers the candidates, `unico_offers` assigns them), written to a
//! campaign directory for the channels ([`export`]) and stored for the app and the tills;
//! a campaign's redemptions teach the response model ([`learn`]).

mod export;
mod history;
mod learn;
pub(crate) mod prepare;
mod preview;
mod shopping;
mod spill;

pub use export::distinct_sets;
pub use history::{Evaluation, HistoryOutcome, HistoryRequest, REDEMPTION_FILE, Scored};
pub use learn::{LearnRequest, Learned, LearnedCell};
pub use prepare::{CANDIDATES_PER_CUSTOMER, Prepared, products};
pub use preview::{Breakdown, CampaignPreview, Limit, SampleCustomer, SampleOffer};
pub use shopping::due_in_window;

use crate::error::{Code, Context, Error, Result};
use crate::progress::Progress;
use crate::{App, bail};
use rand::SeedableRng;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use unico_offers::plan::{Plan, Status};
use unico_offers::response::ResponseModel;

/// The learned response to offers, in the model directory.
pub const RESPONSE_FILE: &str = "offers-response.json";

/// What to plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanRequest {
    /// The policy file (TOML; docs/offers.md).
    pub policy: PathBuf,
    /// The day the model must have been built as of (default: the model's).
    pub as_of: Option<String>,
    /// The campaign directory to write (must not hold a campaign already).
    pub out: PathBuf,
    /// Write the files only; do not store the campaign for the app and the tills.
    pub dry_run: bool,
}

/// A campaign planned.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// Its id (name and first day).
    pub campaign_id: String,
    /// The policy's name.
    pub name: String,
    /// First and last day of the offers.
    pub valid_from: jiff::civil::Date,
    /// Last day of the offers.
    pub valid_to: jiff::civil::Date,
    /// The campaign directory.
    pub out: PathBuf,
    /// Not stored (a trial).
    pub dry_run: bool,
    /// Customers considered.
    pub customers: usize,
    /// Customers by outcome.
    pub by_status: StatusCounts,
    /// Offers made.
    pub offers: usize,
    /// Distinct offer sets among the customers with offers.
    pub distinct_offer_sets: usize,
    /// The budget, cents, and what it is counted on (`expected` or `worst_case`).
    pub budget_cents: i64,
    /// `expected` or `worst_case`.
    pub basis: &'static str,
    /// Expected cost of the discounts, cents.
    pub expected_cost_cents: i64,
    /// Cost if every offer were redeemed, cents.
    pub worst_cost_cents: i64,
    /// Expected incremental margin, cents.
    pub expected_incremental_margin_cents: i64,
    /// Time taken, seconds.
    pub seconds: f64,
}

/// Customers of a plan by outcome.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StatusCounts {
    /// With personal offers.
    pub personal: usize,
    /// With non-personal offers only (no profiling consent).
    pub generic: usize,
    /// Held out (the control group).
    pub holdout: usize,
    /// Outside the policy's segments.
    pub excluded: usize,
    /// Without the marketing consent.
    pub no_consent: usize,
    /// With no offer worth its cost.
    pub no_offer: usize,
}

impl StatusCounts {
    /// Counts a plan's customers.
    pub fn of(plan: &Plan) -> StatusCounts {
        let count = |s: Status| plan.status.iter().filter(|x| **x == s).count();
        StatusCounts {
            personal: count(Status::Personal),
            generic: count(Status::Generic),
            holdout: count(Status::Holdout),
            excluded: count(Status::Excluded),
            no_consent: count(Status::NoConsent),
            no_offer: count(Status::NoOffer),
        }
    }
}

impl App {
    /// Plans a campaign: the files in `out` and, unless a dry run, the campaign in the
    /// store. Files and store are written together or not at all.
    pub fn plan_campaign(&self, req: &PlanRequest, progress: &dyn Progress) -> Result<Planned> {
        let started = Instant::now();
        let _writing = self.plan_lock(&req.out)?;
        let staged = staging(&req.out);
        if staged.exists() {
            self.recover(&staged, &req.out)?;
        }
        if req.out.join("campaign.json").exists() {
            bail!(Code::Conflict, "{} already holds a campaign; choose another --out", req.out.display());
        }
        let p = self.prepare_campaign(&req.policy, req.as_of.as_deref(), None, progress)?;
        let id = p.policy.campaign_id();
        let store = self.store()?;
        if !req.dry_run && self.block_on(store.has_campaign(&id))? {
            bail!(
                Code::CampaignAlreadyStored,
                "the campaign {id:?} is already stored; rename it in the policy, or plan with --dry-run"
            );
        }
        let planned = p.plan(&response_for(&p), progress)?;
        let granted = |key: &str, purpose: unico_store::Purpose| p.granted(key, purpose);
        // The files are staged beside --out, the campaign stored, then the files moved into
        // place: a plan killed before storing leaves a staging directory the next plan
        // removes; one killed after storing leaves one the next plan moves into place.
        let written = export::write(&staged, &p, &planned, &granted);
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e);
        }
        if !req.dry_run {
            let (campaign, offers, members) = to_store(&id, &req.policy, &staged, &req.out, &p, &planned)?;
            if let Err(e) = self.block_on(store.store_campaign(&campaign, &offers, &members)) {
                // Nothing half-done: the files go too.
                let _ = std::fs::remove_dir_all(&staged);
                let e = Error::from(e);
                let code = if e.code() == Code::Conflict { Code::CampaignAlreadyStored } else { e.code() };
                return Err(Error::with_source(code, "cannot store the campaign; nothing was planned", e));
            }
        }
        progress.message(crate::progress::PUBLISHING);
        unico_core::fs::publish_dir(&staged, &req.out)
            .with_context(|| format!("cannot write {} (it must be new or empty)", req.out.display()))?;
        let policy = &p.policy;
        Ok(Planned {
            campaign_id: id,
            name: policy.name.clone(),
            valid_from: policy.valid_from,
            valid_to: policy.valid_to,
            out: req.out.clone(),
            dry_run: req.dry_run,
            customers: p.customers.len(),
            by_status: StatusCounts::of(&planned),
            offers: planned.offers.len(),
            distinct_offer_sets: distinct_sets(&planned),
            budget_cents: policy.total_cents,
            basis: policy.basis.as_str(),
            expected_cost_cents: planned.expected_cost.round() as i64,
            worst_cost_cents: planned.worst_cost.round() as i64,
            expected_incremental_margin_cents: planned.incremental_margin.round() as i64,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

impl App {
    /// Finishes or clears what a plan killed midway left in `staged`: files of a campaign
    /// the store holds are moved into `out` (the plan is then refused as already stored,
    /// with its files in place); files of a campaign it does not hold are removed.
    fn recover(&self, staged: &Path, out: &Path) -> Result<()> {
        let summary: Option<serde_json::Value> =
            std::fs::read(staged.join("campaign.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let id = summary.as_ref().map(|c| {
            unico_offers::campaign_id(
                c["name"].as_str().unwrap_or_default(),
                c["valid_from"].as_str().unwrap_or_default(),
            )
        });
        let store = self.store()?;
        let stored = match &id {
            Some(id) => self.block_on(store.has_campaign(id))?,
            None => false,
        };
        if stored && !out.join("campaign.json").exists() {
            unico_core::fs::publish_dir(staged, out)
                .with_context(|| format!("cannot write {} (it must be new or empty)", out.display()))?;
            bail!(
                Code::CampaignAlreadyStored,
                "the campaign {:?} was stored by a plan that stopped before its files were in place; they are now in {}",
                id.unwrap_or_default(),
                out.display()
            );
        }
        std::fs::remove_dir_all(staged).with_context(|| format!("cannot remove {}", staged.display()))
    }
}

impl App {
    /// The lock of one destination: a second plan writing the same `--out` at the same
    /// time is refused (it would share the staging directory). Held until dropped. The lock
    /// files live in the data directory (`locks/`), not beside the user's campaign.
    fn plan_lock(&self, out: &Path) -> Result<std::fs::File> {
        use sha2::Digest;
        let dir = self.root().join("locks");
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let digest = sha2::Sha256::digest(absolute(out).as_os_str().as_encoded_bytes());
        let path = dir.join(format!("plan-{}.lock", hex::encode(&digest[..8])));
        let file = std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                bail!(Code::Conflict, "another plan is writing {}; wait for it to end", out.display())
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(Error::with_source(Code::Io, format!("cannot lock {}", path.display()), e))
            }
        }
    }
}

/// Where a plan writing `out` stages its files: `.<name>.staging` beside it.
fn staging(out: &Path) -> PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "campaign".into());
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parent.join(format!(".{name}.staging"))
}

/// The response a plan values offers with: one Thompson draw from the learned model,
/// seeded by the policy.
pub fn response_for(p: &Prepared) -> unico_offers::response::Response {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(p.policy.seed);
    p.learned.response(&p.policy.percent_off, Some(&mut rng))
}

/// The learned response model (the prior when no campaign was learned from yet).
pub fn read_response(model_dir: &Path) -> Result<ResponseModel> {
    let path = model_dir.join(RESPONSE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{} is damaged", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ResponseModel::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the learned response model, whole or not at all.
pub fn write_response(model_dir: &Path, model: &ResponseModel) -> Result<()> {
    std::fs::create_dir_all(model_dir).with_context(|| format!("cannot create {}", model_dir.display()))?;
    let path = model_dir.join(RESPONSE_FILE);
    unico_core::fs::write_atomic(&path, &serde_json::to_vec(model)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `path` made absolute against the working directory (as far as it can be).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The budgets the tills keep a campaign under: its total (the worst-case ceiling when the
/// budget counts expected cost and has one) and every category, brand or supplier limit.
fn budgets(policy: &unico_offers::Policy) -> Vec<(String, i64)> {
    let total = match (policy.basis, policy.worst_case_cents) {
        (unico_offers::policy::Basis::Expected, Some(w)) => w,
        _ => policy.total_cents,
    };
    std::iter::once(("total".to_string(), total))
        .chain(policy.limits.iter().map(|l| (budget_name(&l.scope), l.cents)))
        .collect()
}

fn budget_name(scope: &unico_offers::policy::Scope) -> String {
    use unico_offers::policy::Scope;
    match scope {
        Scope::Category(c) => format!("category:{c}"),
        Scope::Brand(b) => format!("brand:{b}"),
        Scope::Supplier(s) => format!("supplier:{s}"),
    }
}

/// The budgets an offer counts against: every limit covering its product (for a category
/// offer, its category's limit), and the total unless a supplier pays for it.
fn budgets_of(policy: &unico_offers::Policy, product: Option<&unico_offers::Product>, category: &str) -> Vec<String> {
    use unico_offers::policy::Scope;
    let covers = |s: &Scope| match product {
        Some(p) => s.contains(p),
        None => matches!(s, Scope::Category(c) if !category.is_empty() && c == category),
    };
    let limits: Vec<_> = policy.limits.iter().filter(|l| covers(&l.scope)).collect();
    let supplier_paid = limits.iter().any(|l| l.supplier_funded);
    (!supplier_paid)
        .then(|| "total".to_string())
        .into_iter()
        .chain(limits.iter().map(|l| budget_name(&l.scope)))
        .collect()
}

/// The campaign as the operational store keeps it, with the directory its files go to.
fn to_store(
    id: &str,
    policy_path: &Path,
    staged: &Path,
    out: &Path,
    p: &Prepared,
    planned: &Plan,
) -> Result<(
    unico_store::campaigns::Campaign,
    Vec<unico_store::campaigns::StoredOffer>,
    Vec<unico_store::campaigns::Member>,
)> {
    use unico_store::campaigns::{Campaign, Member, StoredOffer};
    let campaign = Campaign {
        id: id.to_string(),
        name: p.policy.name.clone(),
        valid_from: p.policy.valid_from.to_string(),
        valid_to: p.policy.valid_to.to_string(),
        seed: p.policy.seed as i64,
        policy: std::fs::read_to_string(policy_path)
            .with_context(|| format!("cannot read {}", policy_path.display()))?,
        summary: std::fs::read_to_string(staged.join("campaign.json"))
            .with_context(|| format!("cannot read {}", staged.display()))?,
        directory: Some(absolute(out).display().to_string()),
        activation_required: p.policy.activation_required,
        stores: p.policy.stores.clone(),
        min_margin: Some(p.policy.min_margin_after_discount),
        budgets: budgets(&p.policy),
    };
    let offers = planned
        .offers
        .iter()
        .map(|o| {
            let what = export::Subject::of(&p.products, &p.categories, o);
            let product = match o.target {
                unico_offers::Target::Product(x) => Some(&p.products[x as usize]),
                _ => None,
            };
            let (buy, pay, min_spend) = export::mechanic_terms(o.mechanic);
            StoredOffer {
                code: o.code.clone(),
                customer_key: p.customers[o.customer as usize].key.clone(),
                rank: i64::from(o.rank),
                sku: what.sku.to_string(),
                target: what.target.to_string(),
                category: (what.target == "category").then(|| what.category.to_string()),
                mechanic: o.mechanic.as_str().to_string(),
                buy_units: i64::from(buy),
                pay_units: i64::from(pay),
                min_spend_cents: min_spend,
                kind: o.kind.as_str().to_string(),
                percent_off: i64::from(o.percent),
                discount_cents: o.discount_cents,
                valid_from: campaign.valid_from.clone(),
                valid_to: campaign.valid_to.clone(),
                p_redeem: o.p_redeem,
                expected_cost_cents: o.expected_cost.round() as i64,
                expected_incremental_margin_cents: o.incremental_margin.round() as i64,
                personal: o.personal,
                reason: o.reason.clone(),
                p0: o.p0,
                affinity: o.affinity,
                band: o.band as i64,
                budgets: budgets_of(&p.policy, product, what.category).join("\n"),
                max_times: 1,
            }
        })
        .collect();
    let members = p
        .customers
        .iter()
        .zip(&planned.status)
        .filter(|(_, s)| matches!(s, Status::Personal | Status::Generic | Status::Holdout | Status::NoOffer))
        .map(|(c, s)| Member {
            customer_key: c.key.clone(),
            status: s.as_str().to_string(),
            segment: c.segment.clone(),
            store_id: c.store.clone(),
            offer_type: if c.profiling { "personal" } else { "generic" }.to_string(),
        })
        .collect();
    Ok((campaign, offers, members))
}

/// A policy checked.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyChecked {
    /// The campaign id it would store (name and first day).
    pub campaign_id: String,
    /// The policy's name.
    pub name: String,
    /// First day.
    pub valid_from: jiff::civil::Date,
    /// Last day.
    pub valid_to: jiff::civil::Date,
    /// Total budget, cents.
    pub budget_cents: i64,
}

impl App {
    /// Checks a policy file against the product master: every problem with its line
    /// (`policy.invalid`), or what it would plan.
    pub fn check_policy(&self, path: &Path) -> Result<PolicyChecked> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        self.check_policy_text(&text, &path.display().to_string())
    }

    /// Checks a policy's text (one sent to the server); problems name `file`.
    pub fn check_policy_text(&self, text: &str, file: &str) -> Result<PolicyChecked> {
        let products = prepare::products(&self.lake_view()?)?;
        let policy = prepare::parse_policy(text, file, &products)?;
        Ok(PolicyChecked {
            campaign_id: policy.campaign_id(),
            name: policy.name.clone(),
            valid_from: policy.valid_from,
            valid_to: policy.valid_to,
            budget_cents: policy.total_cents,
        })
    }

    /// Keeps a version of a policy sent to the server (`policies/<time>-<hash>.toml` in the
    /// data directory, never overwritten) and returns its path.
    pub fn keep_policy(&self, text: &str) -> Result<PathBuf> {
        use sha2::Digest;
        let dir = self.root().join("policies");
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let hash = hex::encode(&sha2::Sha256::digest(text.as_bytes())[..6]);
        let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%6f");
        let path = dir.join(format!("{stamp}-{hash}.toml"));
        unico_core::fs::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }
}

/// A version of a policy kept by the server.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyVersion {
    /// Its id (`<time>-<hash>`), for [`App::policy_version`].
    pub id: String,
    /// The campaign name it holds, when it has one.
    pub name: Option<String>,
    /// Its size, bytes.
    pub bytes: u64,
}

impl App {
    /// The policy versions kept in `policies/`, newest first.
    pub fn policy_versions(&self) -> Result<Vec<PolicyVersion>> {
        let dir = self.root().join("policies");
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(out) };
        for e in entries.flatten() {
            let path = e.path();
            let Some(id) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else { continue };
            if id.starts_with('.') || path.extension().is_none_or(|x| x != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let name = toml::from_str::<toml::Value>(&text)
                .ok()
                .and_then(|v| v.get("campaign")?.get("name")?.as_str().map(str::to_string));
            out.push(PolicyVersion { id, name, bytes: text.len() as u64 });
        }
        out.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(out)
    }

    /// The text of a kept policy version.
    pub fn policy_version(&self, id: &str) -> Result<String> {
        // An id names a file of `policies/` and nothing else.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            bail!(Code::NotFound, "no policy version {id:?}");
        }
        let path = self.root().join("policies").join(format!("{id}.toml"));
        std::fs::read_to_string(&path).map_err(|_| Error::new(Code::NotFound, format!("no policy version {id:?}")))
    }
}
