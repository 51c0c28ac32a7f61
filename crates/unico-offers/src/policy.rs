//! The commercial policy: the retailer's rules for a campaign, in a TOML file.
//!
//! ```toml
//! [campaign]
//! name = "Spring week"
//! valid_from = "2026-03-02"
//! valid_to = "2026-03-15"
//! objective = "incremental_margin"     # or incremental_revenue, retention
//! holdout_share = 0.1
//! channels = ["app", "email"]
//! offers_per_customer = 3
//! seed = 42
//! activation_required = false          # true: an offer applies at the till only once
//!                                      #   the shopper activated it in the app
//! stores = []                          # stores the offers are valid in (all when empty)
//!
//! [budget]
//! total_cents = 5_000_000
//! basis = "expected"                   # or worst_case
//! worst_case_cents = 15_000_000        # with basis = "expected"
//! [[budget.limit]]
//! category = "Coffee"                  # or brand = "...", supplier = "..."
//! cents = 500_000
//! supplier_funded = false              # true: the supplier pays; not counted in the total
//!
//! [offers]
//! percent_off = [10, 20, 30]
//! amount_off_cents = [100, 200]
//! multi_buy = [{ buy = 3, pay = 2 }]            # "3 for 2" on a product
//! category_percent_off = [10]                   # 10% off one item of a category
//! spend_reward = [{ min_spend_cents = 4000, reward_cents = 400 }]   # on the whole basket
//!
//! [margin]
//! min_margin_after_discount = 0.05     # of the discounted price
//! max_discount_percent = 40
//! max_discount_by_category = { Wine = 15 }
//!
//! [exclude]
//! products = ["SKU-1"]
//! categories = ["Tobacco"]
//! brands = ["Acme"]
//!
//! [customers]
//! segments = ["champions", "loyal", "at_risk"]   # only these get personal offers
//! min_clv_cents = 0
//! cooldown_days = 28                    # no new offer on an item offered this recently
//! frequency_cap_offers = 6              # at most 6 offers from all campaigns starting
//! frequency_cap_days = 30               #   within 30 days (this one included)
//!
//! [[trial]]                             # products a supplier pushes
//! sku = "SKU-9"
//! ```
//!
//! Every error names the line of the file it is about: syntax errors (from the TOML
//! parser), unknown keys, values out of range, rules that contradict each other, and
//! references to products, categories or brands the product master does not have.

use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use toml::Spanned;

/// A product as the policy and the offers need it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Product {
    /// The retailer's sku.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Department (empty when unknown).
    pub department: String,
    /// Category (empty when unknown).
    pub category: String,
    /// Brand (empty when unknown).
    pub brand: String,
    /// Supplier (empty when unknown).
    pub supplier: String,
    /// List price of one unit, cents.
    pub list_price_cents: Option<i64>,
    /// Cost of one unit, cents.
    pub unit_cost_cents: Option<i64>,
}

/// A policy that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PolicyError {
    /// 1-based line of the policy file.
    pub line: usize,
    /// What is wrong, in words.
    pub message: String,
}

/// What a campaign maximises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Margin the offers add, net of the discount on purchases that would have happened.
    IncrementalMargin,
    /// Revenue the offers add, net of the same.
    IncrementalRevenue,
    /// Value kept by holding on to customers at risk of lapsing.
    Retention,
}

impl Objective {
    /// The name in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::IncrementalMargin => "incremental_margin",
            Objective::IncrementalRevenue => "incremental_revenue",
            Objective::Retention => "retention",
        }
    }
}

/// How the budget is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The expected cost (each offer's discount times its redemption probability) must fit
    /// the budget; the worst case (every offer redeemed at its largest value) must fit
    /// `worst_case_cents`.
    Expected,
    /// The worst case must fit the budget.
    WorstCase,
}

impl Basis {
    /// The name in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Expected => "expected",
            Basis::WorstCase => "worst_case",
        }
    }
}

/// What a budget limit is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// All products of a category.
    Category(String),
    /// All products of a brand.
    Brand(String),
    /// All products of a supplier.
    Supplier(String),
}

impl Scope {
    /// Whether `p` falls in this scope.
    pub fn contains(&self, p: &Product) -> bool {
        match self {
            Scope::Category(c) => &p.category == c,
            Scope::Brand(b) => &p.brand == b,
            Scope::Supplier(s) => &p.supplier == s,
        }
    }

    /// "category Coffee", "brand Fiore", "supplier X".
    pub fn describe(&self) -> String {
        match self {
            Scope::Category(c) => format!("category {c}"),
            Scope::Brand(b) => format!("brand {b}"),
            Scope::Supplier(s) => format!("supplier {s}"),
        }
    }
}

/// A budget on part of the range.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// What it covers.
    pub scope: Scope,
    /// The budget, cents (counted on the policy's basis).
    pub cents: i64,
    /// Paid by the supplier: offers under it do not count against the total budget.
    pub supplier_funded: bool,
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Campaign name.
    pub name: String,
    /// First day the offers are valid (chain's calendar).
    pub valid_from: jiff::civil::Date,
    /// Last day, inclusive.
    pub valid_to: jiff::civil::Date,
    /// What the assignment maximises.
    pub objective: Objective,
    /// Share of eligible customers held out (get nothing), 0–0.5.
    pub holdout_share: f64,
    /// Channels the offers are sent through.
    pub channels: Vec<String>,
    /// Most offers one customer gets.
    pub offers_per_customer: usize,
    /// Seed of the holdout draw and of the response model's sampling.
    pub seed: u64,
    /// Offers apply at a till only once the shopper activated them in the app.
    pub activation_required: bool,
    /// Stores the offers are valid in (all when empty).
    pub stores: Vec<String>,
    /// Total budget, cents.
    pub total_cents: i64,
    /// How budgets are counted.
    pub basis: Basis,
    /// Worst-case ceiling with `basis = expected`.
    pub worst_case_cents: Option<i64>,
    /// Budgets on categories, brands and suppliers.
    pub limits: Vec<Limit>,
    /// Percent-off depths allowed.
    pub percent_off: Vec<u32>,
    /// Fixed amounts off allowed, cents.
    pub amount_off_cents: Vec<i64>,
    /// Multi-buys allowed: `(buy, pay)`, "buy 3, pay 2".
    pub multi_buy: Vec<(u32, u32)>,
    /// Percent off one item of a category, depths allowed.
    pub category_percent_off: Vec<u32>,
    /// Spend rewards allowed: `(min_spend_cents, reward_cents)` off a whole basket.
    pub spend_reward: Vec<(i64, i64)>,
    /// Least margin left after the discount, as a share of the discounted price.
    pub min_margin_after_discount: f64,
    /// Deepest discount on any product, percent.
    pub max_discount_percent: u32,
    /// Deepest discount per category, percent.
    pub max_discount_by_category: BTreeMap<String, u32>,
    /// Products never offered.
    pub exclude_products: HashSet<String>,
    /// Categories never offered.
    pub exclude_categories: HashSet<String>,
    /// Brands never offered.
    pub exclude_brands: HashSet<String>,
    /// RFM segments that get personal offers (all when empty).
    pub segments: Vec<String>,
    /// Customers worth less than this get no personal spend.
    pub min_clv_cents: i64,
    /// Days since an item was last offered to a customer before it can be offered again.
    pub cooldown_days: u32,
    /// Most offers a customer gets from all campaigns starting within
    /// `frequency_cap_days` (this one included); none: no cap across campaigns.
    pub frequency_cap_offers: Option<u32>,
    /// The frequency cap's window, days.
    pub frequency_cap_days: u32,
    /// Products suppliers push for trial.
    pub trial: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    campaign: Spanned<CampaignSection>,
    budget: Spanned<BudgetSection>,
    #[serde(default)]
    offers: Option<Spanned<OffersSection>>,
    #[serde(default)]
    margin: MarginSection,
    #[serde(default)]
    exclude: ExcludeSection,
    #[serde(default)]
    customers: CustomersSection,
    #[serde(default)]
    trial: Vec<Spanned<TrialSection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignSection {
    name: Spanned<String>,
    valid_from: Spanned<String>,
    valid_to: Spanned<String>,
    #[serde(default = "default_objective")]
    objective: Objective,
    #[serde(default = "default_holdout")]
    holdout_share: Spanned<f64>,
    #[serde(default = "default_channels")]
    channels: Spanned<Vec<String>>,
    #[serde(default = "default_offers_per_customer")]
    offers_per_customer: Spanned<i64>,
    #[serde(default = "default_seed")]
    seed: u64,
    #[serde(default)]
    activation_required: bool,
    #[serde(default)]
    stores: Vec<String>,
}

fn default_objective() -> Objective {
    Objective::IncrementalMargin
}
fn default_holdout() -> Spanned<f64> {
    Spanned::new(0..0, 0.1)
}
fn default_channels() -> Spanned<Vec<String>> {
    Spanned::new(0..0, vec!["app".into()])
}
fn default_offers_per_customer() -> Spanned<i64> {
    Spanned::new(0..0, 3)
}
fn default_seed() -> u64 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetSection {
    total_cents: Spanned<i64>,
    #[serde(default = "default_basis")]
    basis: Spanned<Basis>,
    #[serde(default)]
    worst_case_cents: Option<Spanned<i64>>,
    #[serde(default)]
    limit: Vec<Spanned<LimitSection>>,
}

fn default_basis() -> Spanned<Basis> {
    Spanned::new(0..0, Basis::WorstCase)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitSection {
    category: Option<String>,
    brand: Option<String>,
    supplier: Option<String>,
    cents: Spanned<i64>,
    #[serde(default)]
    supplier_funded: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OffersSection {
    #[serde(default)]
    percent_off: Vec<Spanned<i64>>,
    #[serde(default)]
    amount_off_cents: Vec<Spanned<i64>>,
    #[serde(default)]
    multi_buy: Vec<Spanned<MultiBuySection>>,
    #[serde(default)]
    category_percent_off: Vec<Spanned<i64>>,
    #[serde(default)]
    spend_reward: Vec<Spanned<SpendRewardSection>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MultiBuySection {
    buy: i64,
    pay: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpendRewardSection {
    min_spend_cents: i64,
    reward_cents: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarginSection {
    #[serde(default = "default_min_margin")]
    min_margin_after_discount: Spanned<f64>,
    #[serde(default = "default_max_discount")]
    max_discount_percent: Spanned<i64>,
    #[serde(default)]
    max_discount_by_category: BTreeMap<Spanned<String>, Spanned<i64>>,
}

impl Default for MarginSection {
    fn default() -> Self {
        MarginSection {
            min_margin_after_discount: default_min_margin(),
            max_discount_percent: default_max_discount(),
            max_discount_by_category: BTreeMap::new(),
        }
    }
}

fn default_min_margin() -> Spanned<f64> {
    Spanned::new(0..0, 0.0)
}
fn default_max_discount() -> Spanned<i64> {
    Spanned::new(0..0, 50)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExcludeSection {
    #[serde(default)]
    products: Vec<Spanned<String>>,
    #[serde(default)]
    categories: Vec<Spanned<String>>,
    #[serde(default)]
    brands: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CustomersSection {
    #[serde(default)]
    segments: Vec<Spanned<String>>,
    #[serde(default)]
    min_clv_cents: i64,
    #[serde(default)]
    cooldown_days: Option<Spanned<i64>>,
    #[serde(default)]
    frequency_cap_offers: Option<Spanned<i64>>,
    #[serde(default)]
    frequency_cap_days: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrialSection {
    sku: Spanned<String>,
}

/// The RFM segment names `unico model build` gives.
pub const SEGMENTS: [&str; 10] = [
    "champions",
    "loyal",
    "potential_loyalists",
    "new",
    "promising",
    "need_attention",
    "at_risk",
    "cannot_lose",
    "hibernating",
    "lost",
];

/// Channels offers can be sent through.
pub const CHANNELS: [&str; 5] = ["app", "email", "sms", "store", "ecommerce"];

struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn at(&self, span: std::ops::Range<usize>) -> usize {
        self.0[..span.start.min(self.0.len())].matches('\n').count() + 1
    }
}

impl Policy {
    /// Parses and checks a policy against the product master. All problems found are
    /// returned, each with its line.
    pub fn parse(text: &str, products: &[Product]) -> Result<Policy, Vec<PolicyError>> {
        let lines = Lines(text);
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| lines.at(s));
            vec![PolicyError { line, message: e.message().trim().to_string() }]
        })?;
        let mut errors = Vec::new();
        let mut report = |span: Span, message: String| {
            errors.push(PolicyError { line: lines.at(span), message });
        };
        let err: &mut Report<'_> = &mut report;
        let known = Known::of(products);
        let c = file.campaign.get_ref();
        let campaign = check_campaign(c, err);
        let b = file.budget.get_ref();
        let budget = check_budget(b, &known, err);
        let margin = check_margin(&file.margin, &known, err);
        let offers = check_offers(&file.offers, margin.max_discount, err);
        let exclude = check_exclude(&file.exclude, &known, b, &budget.limits, err);
        let customers = check_customers(&file.customers, campaign.per_customer, err);
        let trial = check_trial(&file.trial, &known, &exclude, err);
        let cu = &file.customers;
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.line);
            return Err(errors);
        }
        Ok(Policy {
            name: c.name.get_ref().trim().to_string(),
            valid_from: campaign.valid_from.expect("checked"),
            valid_to: campaign.valid_to.expect("checked"),
            objective: c.objective,
            holdout_share: campaign.holdout,
            channels: c.channels.get_ref().clone(),
            offers_per_customer: campaign.per_customer as usize,
            seed: c.seed,
            activation_required: c.activation_required,
            stores: c.stores.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            total_cents: budget.total,
            basis: budget.basis,
            worst_case_cents: budget.worst_case.map(|w| w.0),
            limits: budget.limits,
            percent_off: offers.percent_off,
            amount_off_cents: offers.amount_off,
            multi_buy: offers.multi_buy,
            category_percent_off: offers.category_percent_off,
            spend_reward: offers.spend_reward,
            min_margin_after_discount: margin.min_margin,
            max_discount_percent: margin.max_discount as u32,
            max_discount_by_category: margin.by_category,
            exclude_products: exclude.products,
            exclude_categories: exclude.categories,
            exclude_brands: exclude.brands,
            segments: customers.segments,
            min_clv_cents: cu.min_clv_cents,
            cooldown_days: customers.cooldown,
            frequency_cap_offers: customers.frequency_cap,
            frequency_cap_days: customers.frequency_days,
            trial,
        })
    }

    /// Whether the product may be offered at all.
    pub fn allows(&self, p: &Product) -> bool {
        !(self.exclude_products.contains(&p.sku)
            || self.exclude_categories.contains(&p.category)
            || self.exclude_brands.contains(&p.brand))
    }

    /// Deepest discount allowed on the product, percent.
    pub fn max_discount_for(&self, p: &Product) -> u32 {
        self.max_discount_by_category
            .get(&p.category)
            .copied()
            .unwrap_or(self.max_discount_percent)
            .min(self.max_discount_percent)
    }

    /// Whether a discount of `discount_cents` on one unit keeps the margin rule and the
    /// depth caps. Products without a price or cost never pass: their margin is unknown.
    pub fn discount_allowed(&self, p: &Product, discount_cents: i64) -> bool {
        self.discount_allowed_up_to(p, discount_cents, self.max_discount_for(p))
    }

    /// [`Policy::discount_allowed`] with the product's deepest discount already looked up
    /// (planning asks for every option of every customer).
    pub fn discount_allowed_up_to(&self, p: &Product, discount_cents: i64, max_percent: u32) -> bool {
        let (Some(price), Some(cost)) = (p.list_price_cents, p.unit_cost_cents) else { return false };
        if price <= 0 || discount_cents <= 0 || discount_cents >= price {
            return false;
        }
        if discount_cents * 100 > price * i64::from(max_percent) {
            return false;
        }
        let paid = price - discount_cents;
        (paid - cost) as f64 >= self.min_margin_after_discount * paid as f64
    }

    /// Whether "buy `buy`, pay `pay`" keeps the depth caps and the margin rule on the
    /// product (margin over the units bought).
    pub fn multi_buy_allowed(&self, p: &Product, buy: u32, pay: u32) -> bool {
        self.multi_buy_allowed_up_to(p, buy, pay, self.max_discount_for(p))
    }

    /// [`Policy::multi_buy_allowed`] with the product's deepest discount already looked up.
    pub fn multi_buy_allowed_up_to(&self, p: &Product, buy: u32, pay: u32, max_percent: u32) -> bool {
        let (Some(price), Some(cost)) = (p.list_price_cents, p.unit_cost_cents) else { return false };
        if price <= 0 || pay == 0 || pay >= buy {
            return false;
        }
        if u64::from(buy - pay) * 100 > u64::from(buy) * u64::from(max_percent) {
            return false;
        }
        let paid = price * i64::from(pay);
        (paid - cost * i64::from(buy)) as f64 >= self.min_margin_after_discount * paid as f64
    }

    /// Whether a customer in `segment` with this CLV gets personal offers.
    pub fn includes(&self, segment: &str, clv_cents: i64) -> bool {
        clv_cents >= self.min_clv_cents && (self.segments.is_empty() || self.segments.iter().any(|s| s == segment))
    }

    /// Days the offers are valid.
    pub fn window_days(&self) -> i64 {
        i64::from((self.valid_to - self.valid_from).get_days()) + 1
    }
}

/// The longest cool-down or frequency-cap window, days (ten years).
const MAX_DAYS: i64 = 3650;

/// A byte range of the policy file: where a problem is.
type Span = std::ops::Range<usize>;

/// Where a section's checks report each problem, at its span.
type Report<'e> = dyn FnMut(Span, String) + 'e;

/// The names the product master knows, which the policy's names are checked against.
struct Known<'a> {
    skus: HashSet<&'a str>,
    categories: HashSet<&'a str>,
    brands: HashSet<&'a str>,
    suppliers: HashSet<&'a str>,
    by_sku: std::collections::HashMap<&'a str, &'a Product>,
}

impl<'a> Known<'a> {
    fn of(products: &'a [Product]) -> Known<'a> {
        let known =
            |f: fn(&Product) -> &str| -> HashSet<&str> { products.iter().map(f).filter(|v| !v.is_empty()).collect() };
        Known {
            skus: products.iter().map(|p| p.sku.as_str()).collect(),
            categories: known(|p| p.category.as_str()),
            brands: known(|p| p.brand.as_str()),
            suppliers: known(|p| p.supplier.as_str()),
            by_sku: products.iter().map(|p| (p.sku.as_str(), p)).collect(),
        }
    }
}

/// `[campaign]`, checked.
struct CampaignChecked {
    valid_from: Result<jiff::civil::Date, ()>,
    valid_to: Result<jiff::civil::Date, ()>,
    holdout: f64,
    per_customer: i64,
}

/// `[campaign]`: dates, name, holdout, channels, offers per customer.
fn check_campaign(c: &CampaignSection, err: &mut Report<'_>) -> CampaignChecked {
    let date = |s: &Spanned<String>, what: &str, err: &mut Report<'_>| {
        s.get_ref().parse::<jiff::civil::Date>().map_err(|_| {
            err(s.span(), format!("campaign.{what} {:?} is not a date (YYYY-MM-DD)", s.get_ref()));
        })
    };
    let valid_from = date(&c.valid_from, "valid_from", err);
    let valid_to = date(&c.valid_to, "valid_to", err);
    if let (Ok(from), Ok(to)) = (valid_from, valid_to)
        && to < from
    {
        err(c.valid_to.span(), format!("campaign.valid_to {to} is before valid_from {from}"));
    }
    if c.name.get_ref().trim().is_empty() {
        err(c.name.span(), "campaign.name is empty".into());
    }
    let holdout = *c.holdout_share.get_ref();
    if !(0.0..=0.5).contains(&holdout) {
        err(c.holdout_share.span(), format!("campaign.holdout_share {holdout} must be between 0 and 0.5"));
    }
    for ch in c.channels.get_ref() {
        if !CHANNELS.contains(&ch.as_str()) {
            err(
                c.channels.span(),
                format!("campaign.channels: unknown channel {ch:?} (one of {})", CHANNELS.join(", ")),
            );
        }
    }
    if c.channels.get_ref().is_empty() {
        err(c.channels.span(), "campaign.channels is empty: offers need a channel".into());
    }
    let per_customer = *c.offers_per_customer.get_ref();
    if !(1..=50).contains(&per_customer) {
        err(c.offers_per_customer.span(), format!("campaign.offers_per_customer {per_customer} must be 1 to 50"));
    }
    CampaignChecked { valid_from, valid_to, holdout, per_customer }
}

/// `[budget]`, checked.
struct BudgetChecked {
    total: i64,
    basis: Basis,
    worst_case: Option<(i64, Span)>,
    limits: Vec<Limit>,
}

/// `[budget]`: the total, its basis and the limits by category, brand or supplier.
fn check_budget(b: &BudgetSection, known: &Known<'_>, err: &mut Report<'_>) -> BudgetChecked {
    let total = *b.total_cents.get_ref();
    if total <= 0 {
        err(b.total_cents.span(), format!("budget.total_cents {total} must be positive"));
    }
    let basis = *b.basis.get_ref();
    let worst_case = b.worst_case_cents.as_ref().map(|w| (*w.get_ref(), w.span()));
    match (basis, &worst_case) {
        (Basis::Expected, None) => err(
            b.basis.span(),
            "budget.basis = \"expected\" needs budget.worst_case_cents, the ceiling if every offer is redeemed".into(),
        ),
        (Basis::Expected, Some((w, span))) if *w < total => err(
            span.clone(),
            format!(
                "budget.worst_case_cents {w} is below total_cents {total}: the worst case cannot cost less than the expected"
            ),
        ),
        (Basis::WorstCase, Some((_, span))) => err(
            span.clone(),
            "budget.worst_case_cents only applies with basis = \"expected\" (with worst_case the total is the ceiling)"
                .into(),
        ),
        _ => {}
    }
    let mut limits = Vec::new();
    let mut seen = HashSet::new();
    for l in &b.limit {
        let lr = l.get_ref();
        let scope = match (&lr.category, &lr.brand, &lr.supplier) {
            (Some(c), None, None) => {
                if !known.categories.contains(c.as_str()) {
                    err(l.span(), format!("budget.limit: category {c:?} is not in the product master"));
                }
                Scope::Category(c.clone())
            }
            (None, Some(v), None) => {
                if !known.brands.contains(v.as_str()) {
                    err(l.span(), format!("budget.limit: brand {v:?} is not in the product master"));
                }
                Scope::Brand(v.clone())
            }
            (None, None, Some(v)) => {
                if !known.suppliers.contains(v.as_str()) {
                    err(l.span(), format!("budget.limit: supplier {v:?} is not in the product master"));
                }
                Scope::Supplier(v.clone())
            }
            _ => {
                err(l.span(), "budget.limit needs exactly one of category, brand or supplier".into());
                continue;
            }
        };
        let cents = *lr.cents.get_ref();
        if cents < 0 {
            err(lr.cents.span(), format!("budget.limit.cents {cents} is negative"));
        }
        if !lr.supplier_funded && cents > total && total > 0 {
            err(
                lr.cents.span(),
                format!("budget.limit for {} ({cents}) exceeds the total budget ({total})", scope.describe()),
            );
        }
        if !seen.insert(scope.clone()) {
            err(l.span(), format!("budget.limit for {} appears twice", scope.describe()));
        }
        limits.push(Limit { scope, cents, supplier_funded: lr.supplier_funded });
    }
    BudgetChecked { total, basis, worst_case, limits }
}

/// `[margin]`, checked.
struct MarginChecked {
    max_discount: i64,
    min_margin: f64,
    by_category: BTreeMap<String, u32>,
}

/// `[margin]`: the deepest discount overall and by category, the margin left after it.
fn check_margin(m: &MarginSection, known: &Known<'_>, err: &mut Report<'_>) -> MarginChecked {
    let max_discount = *m.max_discount_percent.get_ref();
    if !(1..=90).contains(&max_discount) {
        err(m.max_discount_percent.span(), format!("margin.max_discount_percent {max_discount} must be 1 to 90"));
    }
    let min_margin = *m.min_margin_after_discount.get_ref();
    if !(-1.0..1.0).contains(&min_margin) {
        err(
            m.min_margin_after_discount.span(),
            format!("margin.min_margin_after_discount {min_margin} must be a share below 1"),
        );
    }
    let mut by_category = BTreeMap::new();
    for (cat, pct) in &m.max_discount_by_category {
        if !known.categories.contains(cat.get_ref().as_str()) {
            err(
                cat.span(),
                format!("margin.max_discount_by_category: category {:?} is not in the product master", cat.get_ref()),
            );
        }
        let v = *pct.get_ref();
        if !(0..=90).contains(&v) {
            err(pct.span(), format!("margin.max_discount_by_category.{} = {v} must be 0 to 90", cat.get_ref()));
        }
        by_category.insert(cat.get_ref().clone(), v.clamp(0, 90) as u32);
    }
    MarginChecked { max_discount, min_margin, by_category }
}

/// `[offers]`, checked: each offer type's depths, sorted and without repeats.
struct OffersChecked {
    percent_off: Vec<u32>,
    amount_off: Vec<i64>,
    multi_buy: Vec<(u32, u32)>,
    category_percent_off: Vec<u32>,
    spend_reward: Vec<(i64, i64)>,
}

/// `[offers]`: every offer type within the margin's deepest discount.
fn check_offers(offers: &Option<Spanned<OffersSection>>, max_discount: i64, err: &mut Report<'_>) -> OffersChecked {
    let (mut percent_off, mut amount_off) = (Vec::new(), Vec::new());
    let (mut multi_buy, mut category_percent_off, mut spend_reward) = (Vec::new(), Vec::new(), Vec::new());
    match offers {
        None => percent_off = vec![10, 20, 30],
        Some(o) => {
            for p in &o.get_ref().percent_off {
                let v = *p.get_ref();
                if !(1..=90).contains(&v) {
                    err(p.span(), format!("offers.percent_off {v} must be 1 to 90"));
                } else if v > max_discount {
                    err(
                        p.span(),
                        format!("offers.percent_off {v} is deeper than margin.max_discount_percent {max_discount}"),
                    );
                } else {
                    percent_off.push(v as u32);
                }
            }
            for a in &o.get_ref().amount_off_cents {
                let v = *a.get_ref();
                if v <= 0 {
                    err(a.span(), format!("offers.amount_off_cents {v} must be positive"));
                } else {
                    amount_off.push(v);
                }
            }
            for m in &o.get_ref().multi_buy {
                let MultiBuySection { buy, pay } = *m.get_ref();
                if !(2..=10).contains(&buy) || !(1..buy).contains(&pay) {
                    err(
                        m.span(),
                        format!(
                            "offers.multi_buy {{ buy = {buy}, pay = {pay} }}: buy must be 2 to 10 and pay 1 to buy − 1"
                        ),
                    );
                } else if (buy - pay) * 100 > max_discount * buy {
                    err(
                        m.span(),
                        format!(
                            "offers.multi_buy {buy} for {pay} is {}% off, deeper than margin.max_discount_percent {max_discount}",
                            (buy - pay) * 100 / buy
                        ),
                    );
                } else {
                    multi_buy.push((buy as u32, pay as u32));
                }
            }
            for p in &o.get_ref().category_percent_off {
                let v = *p.get_ref();
                if !(1..=90).contains(&v) {
                    err(p.span(), format!("offers.category_percent_off {v} must be 1 to 90"));
                } else if v > max_discount {
                    err(
                        p.span(),
                        format!(
                            "offers.category_percent_off {v} is deeper than margin.max_discount_percent {max_discount}"
                        ),
                    );
                } else {
                    category_percent_off.push(v as u32);
                }
            }
            for r in &o.get_ref().spend_reward {
                let SpendRewardSection { min_spend_cents: min, reward_cents: reward } = *r.get_ref();
                if min <= 0 || reward <= 0 || reward >= min {
                    err(
                        r.span(),
                        format!(
                            "offers.spend_reward {{ min_spend_cents = {min}, reward_cents = {reward} }}: both must be positive and the reward below the spend"
                        ),
                    );
                } else if i128::from(reward) * 100 > i128::from(max_discount) * i128::from(min) {
                    err(
                        r.span(),
                        format!(
                            "offers.spend_reward of {reward} on {min} is deeper than margin.max_discount_percent {max_discount}"
                        ),
                    );
                } else {
                    spend_reward.push((min, reward));
                }
            }
            let o = o.get_ref();
            if o.percent_off.is_empty()
                && o.amount_off_cents.is_empty()
                && o.multi_buy.is_empty()
                && o.category_percent_off.is_empty()
                && o.spend_reward.is_empty()
            {
                err(
                    offers.as_ref().expect("some").span(),
                    "offers allows no offer type: give percent_off, amount_off_cents, multi_buy, category_percent_off or spend_reward".into(),
                );
            }
        }
    }
    percent_off.sort_unstable();
    percent_off.dedup();
    amount_off.sort_unstable();
    amount_off.dedup();
    multi_buy.sort_unstable();
    multi_buy.dedup();
    category_percent_off.sort_unstable();
    category_percent_off.dedup();
    spend_reward.sort_unstable();
    spend_reward.dedup();
    OffersChecked { percent_off, amount_off, multi_buy, category_percent_off, spend_reward }
}

/// `[exclude]`, checked.
struct ExcludeChecked {
    products: HashSet<String>,
    categories: HashSet<String>,
    brands: HashSet<String>,
}

/// `[exclude]`: products, categories and brands never offered (and no budget limit on an
/// excluded category).
fn check_exclude(
    x: &ExcludeSection,
    known: &Known<'_>,
    b: &BudgetSection,
    limits: &[Limit],
    err: &mut Report<'_>,
) -> ExcludeChecked {
    let mut exclude_products = HashSet::new();
    for s in &x.products {
        if !known.skus.contains(s.get_ref().as_str()) {
            err(s.span(), format!("exclude.products: sku {:?} is not in the product master", s.get_ref()));
        }
        exclude_products.insert(s.get_ref().clone());
    }
    let mut exclude_categories = HashSet::new();
    for s in &x.categories {
        if !known.categories.contains(s.get_ref().as_str()) {
            err(s.span(), format!("exclude.categories: category {:?} is not in the product master", s.get_ref()));
        }
        exclude_categories.insert(s.get_ref().clone());
    }
    let mut exclude_brands = HashSet::new();
    for s in &x.brands {
        if !known.brands.contains(s.get_ref().as_str()) {
            err(s.span(), format!("exclude.brands: brand {:?} is not in the product master", s.get_ref()));
        }
        exclude_brands.insert(s.get_ref().clone());
    }
    for l in limits {
        if let Scope::Category(c) = &l.scope
            && exclude_categories.contains(c)
        {
            let span = b.limit.iter().find(|s| s.get_ref().category.as_ref() == Some(c)).map(|s| s.span());
            err(
                span.unwrap_or(0..0),
                format!("budget.limit for category {c} contradicts exclude.categories, which lists it"),
            );
        }
    }
    ExcludeChecked { products: exclude_products, categories: exclude_categories, brands: exclude_brands }
}

/// `[customers]`, checked.
struct CustomersChecked {
    segments: Vec<String>,
    cooldown: u32,
    frequency_cap: Option<u32>,
    frequency_days: u32,
}

/// `[customers]`: segments, the cool-down and the frequency cap.
fn check_customers(cu: &CustomersSection, per_customer: i64, err: &mut Report<'_>) -> CustomersChecked {
    let mut segments = Vec::new();
    for s in &cu.segments {
        if !SEGMENTS.contains(&s.get_ref().as_str()) {
            err(
                s.span(),
                format!("customers.segments: unknown segment {:?} (one of {})", s.get_ref(), SEGMENTS.join(", ")),
            );
        }
        segments.push(s.get_ref().clone());
    }
    let cooldown = match &cu.cooldown_days {
        Some(d) if !(0..=MAX_DAYS).contains(d.get_ref()) => {
            err(d.span(), format!("customers.cooldown_days {} must be 0 to {MAX_DAYS}", d.get_ref()));
            0
        }
        Some(d) => *d.get_ref() as u32,
        None => 28,
    };
    let frequency_cap = match &cu.frequency_cap_offers {
        Some(n) if *n.get_ref() < 1 => {
            err(n.span(), format!("customers.frequency_cap_offers {} must be at least 1", n.get_ref()));
            None
        }
        Some(n) if (*n.get_ref() as u64) < per_customer as u64 => {
            err(
                n.span(),
                format!(
                    "customers.frequency_cap_offers {} is below campaign.offers_per_customer {per_customer}: no customer could get the offers the campaign allows",
                    n.get_ref()
                ),
            );
            None
        }
        Some(n) => Some(*n.get_ref() as u32),
        None => None,
    };
    let frequency_days = match &cu.frequency_cap_days {
        Some(d) if !(1..=MAX_DAYS).contains(d.get_ref()) => {
            err(d.span(), format!("customers.frequency_cap_days {} must be 1 to {MAX_DAYS}", d.get_ref()));
            30
        }
        Some(d) if cu.frequency_cap_offers.is_none() => {
            err(d.span(), "customers.frequency_cap_days needs customers.frequency_cap_offers".to_string());
            30
        }
        Some(d) => *d.get_ref() as u32,
        None => 30,
    };
    CustomersChecked { segments, cooldown, frequency_cap, frequency_days }
}

/// `[[trial]]`: new products every customer may be offered, known, not excluded and with
/// the price and cost their margin is checked with.
fn check_trial(
    trial_sections: &[Spanned<TrialSection>],
    known: &Known<'_>,
    exclude: &ExcludeChecked,
    err: &mut Report<'_>,
) -> Vec<String> {
    let mut trial = Vec::new();
    for t in trial_sections {
        let sku = t.get_ref().sku.get_ref();
        match known.by_sku.get(sku.as_str()) {
            None => err(t.get_ref().sku.span(), format!("trial: sku {sku:?} is not in the product master")),
            Some(p) => {
                if exclude.products.contains(sku)
                    || exclude.categories.contains(&p.category)
                    || exclude.brands.contains(&p.brand)
                {
                    err(t.get_ref().sku.span(), format!("trial: sku {sku:?} is also excluded"));
                }
                if p.list_price_cents.is_none() || p.unit_cost_cents.is_none() {
                    err(
                        t.get_ref().sku.span(),
                        format!(
                            "trial: sku {sku:?} has no list price or unit cost in the product master: its margin cannot be checked"
                        ),
                    );
                }
                trial.push(sku.clone());
            }
        }
    }
    trial
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn products() -> Vec<Product> {
        let p = |sku: &str, cat: &str, brand: &str, supplier: &str, price: i64, cost: i64| Product {
            sku: sku.into(),
            name: format!("{brand} {sku}"),
            category: cat.into(),
            department: String::new(),
            brand: brand.into(),
            supplier: supplier.into(),
            list_price_cents: Some(price),
            unit_cost_cents: Some(cost),
        };
        vec![
            p("C1", "Coffee", "Fiore", "Fiore SpA", 500, 300),
            p("C2", "Coffee", "Lume", "Lume Srl", 400, 260),
            p("W1", "Wine", "Vigna", "Vigna", 900, 500),
            p("T1", "Tobacco", "Acme", "Acme", 600, 550),
        ]
    }

    const GOOD: &str = r#"
[campaign]
name = "Spring week"
valid_from = "2026-03-02"
valid_to = "2026-03-15"
holdout_share = 0.1
channels = ["app", "email"]

[budget]
total_cents = 100000
[[budget.limit]]
category = "Coffee"
cents = 40000

[offers]
percent_off = [10, 20, 30]

[margin]
min_margin_after_discount = 0.05
max_discount_by_category = { Wine = 15 }

[exclude]
categories = ["Tobacco"]
"#;

    #[test]
    fn a_good_policy_parses_with_its_rules() {
        let p = Policy::parse(GOOD, &products()).unwrap();
        assert_eq!(p.window_days(), 14);
        assert_eq!(
            p.limits,
            vec![Limit { scope: Scope::Category("Coffee".into()), cents: 40000, supplier_funded: false }]
        );
        let ps = products();
        assert!(!p.allows(&ps[3]), "tobacco excluded");
        assert_eq!(p.max_discount_for(&ps[2]), 15);
        // 30 % off coffee C1 (500, cost 300): pays 350, margin 50 = 14 % >= 5 %.
        assert!(p.discount_allowed(&ps[0], 150));
        // 30 % off C2 (400, cost 260): pays 280, margin 20 = 7 %: allowed; 35 % is not.
        assert!(p.discount_allowed(&ps[1], 120));
        assert!(!p.discount_allowed(&ps[1], 140));
        // Wine capped at 15 %.
        assert!(p.discount_allowed(&ps[2], 135) && !p.discount_allowed(&ps[2], 136));
    }

    fn errors(text: &str) -> Vec<PolicyError> {
        Policy::parse(text, &products()).unwrap_err()
    }

    #[test]
    fn errors_name_their_line() {
        // Unknown product on line 22 (exclude.products), contradiction on line 13.
        let text = GOOD
            .replace("categories = [\"Tobacco\"]", "categories = [\"Tobacco\"]\nproducts = [\"NOPE\"]")
            .replace("category = \"Coffee\"\ncents = 40000", "category = \"Tobacco\"\ncents = 40000");
        let e = errors(&text);
        let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
        assert!(e.iter().any(|e| e.line == 24 && e.message.contains("\"NOPE\"")), "{e:?}");
        assert!(e.iter().any(|e| e.message.contains("contradicts exclude.categories")), "{e:?} {lines:?}");
        // A syntax error.
        let e = errors("[campaign]\nname = \"x\n");
        assert_eq!(e[0].line, 2, "{e:?}");
        // An unknown key.
        let e = errors(&GOOD.replace("holdout_share = 0.1", "holdout_shar = 0.1"));
        assert!(e[0].line == 6 && e[0].message.contains("holdout_shar"), "{e:?}");
        // Dates the wrong way round.
        let e = errors(&GOOD.replace("2026-03-15", "2026-02-15"));
        assert!(e[0].line == 5 && e[0].message.contains("before"), "{e:?}");
        // A depth deeper than the cap.
        let e = errors(&GOOD.replace("[10, 20, 30]", "[10, 60]"));
        assert!(e.iter().any(|e| e.line == 16 && e.message.contains("deeper")), "{e:?}");
        // A category budget larger than the whole.
        let e = errors(&GOOD.replace("cents = 40000", "cents = 400000"));
        assert!(e.iter().any(|e| e.line == 13 && e.message.contains("exceeds the total")), "{e:?}");
        // Expected basis without a worst-case ceiling.
        let e = errors(&GOOD.replace("total_cents = 100000", "total_cents = 100000\nbasis = \"expected\""));
        assert!(e.iter().any(|e| e.line == 11 && e.message.contains("worst_case_cents")), "{e:?}");
        // Unknown segment and channel.
        let e = errors(&format!("{GOOD}\n[customers]\nsegments = [\"vip\"]\n").replace("\"email\"", "\"fax\""));
        assert!(e.iter().any(|e| e.line == 7 && e.message.contains("fax")), "{e:?}");
        assert!(e.iter().any(|e| e.message.contains("\"vip\"")), "{e:?}");
        // A frequency cap below the campaign's own offers per customer (3 by default), and a
        // cap window without a cap.
        let e = errors(&format!("{GOOD}\n[customers]\nfrequency_cap_offers = 2\n"));
        assert!(e.iter().any(|e| e.line == 26 && e.message.contains("below campaign.offers_per_customer")), "{e:?}");
        let e = errors(&format!("{GOOD}\n[customers]\nfrequency_cap_days = 30\n"));
        assert!(e.iter().any(|e| e.line == 26 && e.message.contains("needs customers.frequency_cap_offers")), "{e:?}");
        let p = Policy::parse(
            &format!("{GOOD}\n[customers]\nfrequency_cap_offers = 5\nfrequency_cap_days = 14\n"),
            &products(),
        )
        .unwrap();
        assert_eq!((p.frequency_cap_offers, p.frequency_cap_days), (Some(5), 14));
    }

    #[test]
    fn values_no_calendar_or_integer_can_hold_are_errors_not_panics() {
        let e = errors(&format!("{GOOD}\n[customers]\ncooldown_days = 7304485\n"));
        assert!(
            e.iter().any(|e| e.line == 26 && e.message.contains("cooldown_days 7304485 must be 0 to 3650")),
            "{e:?}"
        );
        let e = errors(&format!("{GOOD}\n[customers]\nfrequency_cap_offers = 5\nfrequency_cap_days = 100000000\n"));
        assert!(e.iter().any(|e| e.line == 27 && e.message.contains("must be 1 to 3650")), "{e:?}");
        let huge = GOOD.replace(
            "[10, 20, 30]",
            "[10]\nspend_reward = [{ min_spend_cents = 9223372036854775807, reward_cents = 9223372036854775806 }]",
        );
        let e = errors(&huge);
        assert!(e.iter().any(|e| e.message.contains("deeper than margin.max_discount_percent")), "{e:?}");
    }

    #[test]
    fn offer_types_parse_and_their_errors_name_their_line() {
        let types = "percent_off = [10]\nmulti_buy = [{ buy = 3, pay = 2 }]\ncategory_percent_off = [10, 15]\nspend_reward = [{ min_spend_cents = 4000, reward_cents = 400 }]";
        let p = Policy::parse(&GOOD.replace("percent_off = [10, 20, 30]", types), &products()).unwrap();
        assert_eq!(p.multi_buy, vec![(3, 2)]);
        assert_eq!(p.category_percent_off, vec![10, 15]);
        assert_eq!(p.spend_reward, vec![(4000, 400)]);
        // 3 for 2 on C1 (500, cost 300): pays 1000 for a cost of 900, 10 % >= 5 %; on C2
        // (400, cost 260): 800 for 780, 2.5 %: refused; wine capped at 15 % (33 % off).
        let ps = products();
        assert!(p.multi_buy_allowed(&ps[0], 3, 2) && !p.multi_buy_allowed(&ps[1], 3, 2));
        assert!(!p.multi_buy_allowed(&ps[2], 3, 2) && p.multi_buy_allowed(&ps[2], 7, 6));
        // Out of range, each on its line (16, 17 and 18).
        let bad = |line: &str| GOOD.replace("percent_off = [10, 20, 30]", &format!("percent_off = [10]\n{line}"));
        let e = errors(&bad("multi_buy = [{ buy = 2, pay = 2 }]"));
        assert!(e[0].line == 17 && e[0].message.contains("pay 1 to buy"), "{e:?}");
        let e = errors(&bad("multi_buy = [{ buy = 3, pay = 1 }]"));
        assert!(e[0].line == 17 && e[0].message.contains("66% off, deeper"), "{e:?}");
        let e = errors(&bad("category_percent_off = [60]"));
        assert!(e[0].line == 17 && e[0].message.contains("deeper"), "{e:?}");
        let e = errors(&bad("spend_reward = [{ min_spend_cents = 400, reward_cents = 400 }]"));
        assert!(e[0].line == 17 && e[0].message.contains("below the spend"), "{e:?}");
        let e = errors(&bad("spend_reward = [{ min_spend_cents = 1000, reward_cents = 600 }]"));
        assert!(e[0].line == 17 && e[0].message.contains("deeper"), "{e:?}");
        let e = errors(&bad("multi_buy = [{ buy = 3, get = 1 }]"));
        assert!(e[0].message.contains("get"), "an unknown key: {e:?}");
        // No offer type at all.
        let e = errors(&GOOD.replace("percent_off = [10, 20, 30]", "multi_buy = []"));
        assert!(e[0].line == 15 && e[0].message.contains("no offer type"), "{e:?}");
    }
}
