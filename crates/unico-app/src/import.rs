//! Getting data in: receipts, products and stores into the lake; customers and survey
//! answers into the operational store; a simulated chain as files or straight into the
//! lake; the data-quality report.

use crate::error::{Code, Context, Error, Result};
use crate::progress::{self, Progress, Unit};
use crate::{App, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use unico_lake::import::{ImportOptions, ImportSummary, Phase};
use unico_lake::{Dataset, Mapping};
use unico_store::dedupe;

/// What to import.
#[derive(Debug, Clone, Serialize)]
pub struct ImportRequest {
    /// What the files hold.
    pub dataset: Dataset,
    /// The files, each a separate import.
    pub files: Vec<PathBuf>,
    /// A mapping file describing the source (docs/import.md); none for canonical files.
    pub mapping: Option<PathBuf>,
    /// Refuse a file when more than this share of its rows is rejected (0–1).
    pub max_reject_rate: Option<f64>,
    /// Customers: merge duplicate registrations after the import.
    pub dedupe: bool,
}

/// What an import of several files did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// One summary per file, in the order given.
    pub summaries: Vec<ImportSummary>,
    /// Customers: the duplicates merged afterwards.
    pub merged: Option<Merged>,
}

/// Duplicate registrations merged.
#[derive(Debug, Clone, Serialize)]
pub struct Merged {
    /// The threshold used (0–1).
    pub threshold: f64,
    /// Each merge: the registrations and their score.
    pub merges: Vec<dedupe::Candidate>,
    /// What the run compared.
    pub run: dedupe::Run,
}

/// A simulated chain, generated.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    /// What the simulator wrote.
    pub summary: unico_sim::GenerateSummary,
    /// Where its files are.
    pub out: PathBuf,
}

/// A simulated chain streamed into the lake.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratedIntoLake {
    /// The receipts' import, then the stores' and the products'.
    pub imports: Vec<ImportSummary>,
    /// What the simulator generated.
    pub generated: Option<unico_sim::GenerateSummary>,
}

impl App {
    /// Imports files of one dataset; lake files one by one, each visible whole or not at
    /// all; customers and surveys into the store. `on_file` hears of each file once done.
    pub fn import(
        &self,
        req: &ImportRequest,
        progress: &dyn Progress,
        on_file: &mut dyn FnMut(&ImportSummary),
    ) -> Result<ImportReport> {
        if let Some(r) = req.max_reject_rate.filter(|r| !(0.0..=1.0).contains(r)) {
            bail!(Code::InputInvalid, "--max-reject-rate must be between 0 and 1, got {r}");
        }
        let mapping = match &req.mapping {
            Some(p) => Mapping::from_file(p, req.dataset)?,
            None => Mapping::default(),
        };
        match req.dataset {
            Dataset::Customers => {
                let summaries = self.import_customers(&req.files, &mapping, req.max_reject_rate)?;
                let merged = if req.dedupe { Some(self.merge_duplicates(None)?) } else { None };
                Ok(ImportReport { summaries, merged })
            }
            Dataset::Surveys => {
                let summaries = self.import_surveys(&req.files, &mapping, req.max_reject_rate)?;
                Ok(ImportReport { summaries, merged: None })
            }
            dataset => {
                let mut summaries = Vec::new();
                for file in &req.files {
                    let s = self.import_file(dataset, file, &mapping, req.max_reject_rate, progress)?;
                    on_file(&s);
                    summaries.push(s);
                }
                Ok(ImportReport { summaries, merged: None })
            }
        }
    }

    /// Imports one file of receipts, products or stores into the lake.
    pub fn import_file(
        &self,
        dataset: Dataset,
        file: &Path,
        mapping: &Mapping,
        max_reject_rate: Option<f64>,
        progress: &dyn Progress,
    ) -> Result<ImportSummary> {
        // An erasure a crash left halfway is finished before new receipts arrive.
        self.finish_pending_erasures()?;
        let lake = self.lake()?;
        progress.begin(
            &format!("importing {}", file.display()),
            Unit::Bytes,
            std::fs::metadata(file).map(|m| m.len()).unwrap_or(0),
        );
        let report = |p: unico_lake::import::Progress| match p.phase {
            Phase::Reading => progress.update(p.done, p.total),
            Phase::Deduplicating => {
                progress.message(&format!("{} {}/{} for duplicates", progress::DEDUPLICATING, p.done + 1, p.total))
            }
            Phase::Publishing => progress.message(progress::PUBLISHING),
        };
        let options = self.import_options(mapping, max_reject_rate, &report)?;
        let result = unico_lake::import_file(&lake, dataset, file, &options);
        progress.finish();
        let summary = result.with_context(|| format!("{} not imported", file.display()))?;
        if dataset == Dataset::Products || dataset == Dataset::Stores {
            // The tills price with the product master and the app lists the stores from the
            // same memory: every process's wallets reload them (this one's at once).
            self.with_store(async |s| Ok(s.pos_note("products").await?))?;
            self.pos_reload_if_loaded()?;
        }
        Ok(summary)
    }

    /// How this data directory imports into its lake.
    pub(crate) fn import_options<'a>(
        &self,
        mapping: &Mapping,
        max_reject_rate: Option<f64>,
        progress: &'a (dyn Fn(unico_lake::import::Progress) + Sync),
    ) -> Result<ImportOptions<'a>> {
        Ok(ImportOptions {
            mapping: mapping.clone(),
            chain_tz: self.chain_tz(),
            pseudonymiser: self.pseudonymiser()?,
            rejects_dir: self.rejects_dir(),
            max_reject_rate,
            plausible: self.plausible_days(),
            progress,
        })
    }

    /// Imports registrations into the customer master (normalised, personal data sealed).
    pub fn import_customers(
        &self,
        files: &[PathBuf],
        mapping: &Mapping,
        max_reject_rate: Option<f64>,
    ) -> Result<Vec<ImportSummary>> {
        let options = unico_store::customers::CustomerImportOptions {
            pseudonymiser: self.pseudonymiser()?,
            mapping: mapping.clone(),
            rejects_dir: self.rejects_dir(),
            max_reject_rate,
            default_country: self.default_country(),
            policy_version: self.settings().privacy_policy_version.clone(),
        };
        self.import_each(files, async |store, f| unico_store::customers::import_customers(store, f, &options).await)
    }

    /// Imports survey answers (CSAT, NPS) into the store.
    pub fn import_surveys(
        &self,
        files: &[PathBuf],
        mapping: &Mapping,
        max_reject_rate: Option<f64>,
    ) -> Result<Vec<ImportSummary>> {
        let options = unico_store::kpis::SurveyImportOptions {
            pseudonymiser: self.pseudonymiser()?,
            mapping: mapping.clone(),
            rejects_dir: self.rejects_dir(),
            chain_tz: self.chain_tz(),
            max_reject_rate,
        };
        self.import_each(files, async |store, f| unico_store::kpis::import_surveys(store, f, &options).await)
    }

    /// Imports files into the store one after the other, stopping at the first refused.
    fn import_each(
        &self,
        files: &[PathBuf],
        import: impl AsyncFn(&unico_store::Store, &Path) -> Result<ImportSummary, unico_store::Error>,
    ) -> Result<Vec<ImportSummary>> {
        self.with_store(async |store| {
            let mut out = Vec::new();
            for f in files {
                out.push(import(store, f).await.with_context(|| format!("{} not imported", f.display()))?);
            }
            Ok(out)
        })
    }

    /// The data-quality report of the lake.
    pub fn quality(&self) -> Result<unico_lake::quality::QualityReport> {
        Ok(unico_lake::quality::report(&self.lake_view()?)?)
    }

    /// Streams a simulated chain straight into this data directory's lake (no receipts
    /// file in between), then imports its stores and products; its master data, customers
    /// and truth go to `out`.
    pub fn generate_into_lake(
        &self,
        config: &unico_sim::ChainConfig,
        out: &Path,
        progress: &dyn Progress,
    ) -> Result<GeneratedIntoLake> {
        let lake = self.lake()?;
        progress.begin("simulating people into the lake", Unit::People, config.customers);
        let report = |done: u64, _| progress.update(done, config.customers);
        let generated = std::cell::RefCell::new(None);
        let source = crate::simlake::SimSource::new(config.clone(), out.to_path_buf(), &report, &generated);
        let quiet = |_| {};
        let options = ImportOptions {
            mapping: Mapping::default(),
            chain_tz: self.chain_tz(),
            pseudonymiser: self.pseudonymiser()?,
            rejects_dir: self.rejects_dir(),
            max_reject_rate: Some(0.0),
            plausible: self.plausible_days(),
            progress: &quiet,
        };
        let people = match config.first_person {
            0 => format!("{} people", config.customers),
            first => format!("people {first}..{}", first + config.customers),
        };
        let label = format!("simulator (seed {}, {people}, {} days)", config.seed, config.days);
        let receipts = unico_lake::import::import_receipts_from(&lake, Box::new(source), &label, &options);
        progress.finish();
        let mut imports = vec![receipts?];
        for (dataset, file) in [(Dataset::Stores, "stores.csv"), (Dataset::Products, "products.csv")] {
            imports.push(self.import_file(dataset, &out.join(file), &Mapping::default(), Some(0.0), progress)?);
        }
        if config.history {
            for (dataset, file) in HISTORY_FILES {
                imports.push(self.import_file(dataset, &out.join(file), &Mapping::default(), Some(0.0), progress)?);
            }
        }
        Ok(GeneratedIntoLake { imports, generated: generated.into_inner() })
    }

    /// Generates a chain, imports it (stores, products, receipts, customers with their
    /// duplicates merged): what `unico demo` and `simulate-campaign` start from. `on_step`
    /// hears of each step as it ends.
    pub fn load_simulated_chain(
        &self,
        config: &unico_sim::ChainConfig,
        source: &Path,
        progress: &dyn Progress,
        on_step: &mut dyn FnMut(ChainStep<'_>),
    ) -> Result<()> {
        on_step(ChainStep::Generated(&generate(config, source, progress)?));
        for (dataset, file) in
            [(Dataset::Stores, "stores.csv"), (Dataset::Products, "products.csv"), (Dataset::Receipts, "receipts.csv")]
        {
            on_step(ChainStep::Imported(&self.import_file(
                dataset,
                &source.join(file),
                &Mapping::default(),
                None,
                progress,
            )?));
        }
        if config.history {
            for (dataset, file) in HISTORY_FILES {
                on_step(ChainStep::Imported(&self.import_file(
                    dataset,
                    &source.join(file),
                    &Mapping::default(),
                    None,
                    progress,
                )?));
            }
        }
        let customers = self.import_customers(&[source.join("customers.csv")], &Mapping::default(), None)?;
        on_step(ChainStep::Merged(&self.merge_duplicates(None)?));
        for s in &customers {
            on_step(ChainStep::Imported(s));
        }
        Ok(())
    }
}

/// A step of [`App::load_simulated_chain`].
pub enum ChainStep<'a> {
    /// The chain is generated.
    Generated(&'a Generated),
    /// A file is imported.
    Imported(&'a ImportSummary),
    /// Duplicate registrations are merged.
    Merged(&'a Merged),
}

/// Checks a chain's configuration.
pub fn chain_config(
    customers: u64,
    stores: usize,
    products: usize,
    days: u32,
    start: &str,
    seed: u64,
) -> Result<unico_sim::ChainConfig> {
    let start = crate::parse_date("--start", start)?;
    if days == 0 || customers == 0 {
        bail!(Code::InputInvalid, "--days and --customers must be at least 1");
    }
    Ok(unico_sim::ChainConfig {
        customers,
        first_person: 0,
        stores,
        products,
        days,
        start,
        seed,
        history: false,
        history_before_day: 0,
        shoppers: unico_sim::Shoppers::Basic,
    })
}

/// The simulator's promotion-history files, in the order they import best (what a row
/// names is imported before it).
pub const HISTORY_FILES: [(Dataset, &str); 5] = [
    (Dataset::Campaigns, "campaigns.csv"),
    (Dataset::Coupons, "coupons.csv"),
    (Dataset::CouponProducts, "coupon_products.csv"),
    (Dataset::CampaignMembers, "campaign_members.csv"),
    (Dataset::Redemptions, "redemptions.csv"),
];

/// Generates a simulated chain (with its planted truth) as canonical import files.
pub fn generate(config: &unico_sim::ChainConfig, out: &Path, progress: &dyn Progress) -> Result<Generated> {
    progress.begin("simulating people", Unit::People, config.customers);
    let summary = unico_sim::generate(config, out, &|done, _| progress.update(done, config.customers));
    progress.finish();
    let summary =
        summary.map_err(|e| Error::with_source(Code::Io, format!("cannot write the chain to {}", out.display()), e))?;
    Ok(Generated { summary, out: out.to_path_buf() })
}
