//! One settings struct: defaults, then `<data>/unico.toml`, then `UNICO_*` variables.
//!
//! Every key can be overridden by `UNICO_<KEY>`, a key of a table by its path joined with
//! underscores (`[model.rfm] bins` by `UNICO_MODEL_RFM_BINS`). The overrides are found by
//! walking the defaults, so a new key is overridable the day it is added; a test checks
//! it and that the template written by `unico init` says exactly the defaults. Every value
//! is checked against its allowed range when the settings are read.

use crate::error::{Code, Error, Result};
use serde::{Deserialize, Serialize};

/// Settings read from `unico.toml`; every key can be overridden by `UNICO_<KEY>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The chain's IANA time zone: local dates, month partitions and daily KPIs use it.
    pub timezone: String,
    /// ISO 4217 currency of every amount (amounts are integer cents of it).
    pub currency: String,
    /// The operational store: `sqlite://…` or `postgres://user:password@host/db`.
    /// Default: `unico.db` (SQLite) in the data directory.
    pub database_url: Option<String>,
    /// ISO 3166 country of phone numbers written without a prefix.
    pub default_country: String,
    /// Duplicate registrations scoring at least this (0–1) are merged on import.
    pub dedupe_threshold: f64,
    /// Version of the privacy policy consents in imported files refer to, when they do not say.
    pub privacy_policy_version: String,
    /// Receipts dated before this day (YYYY-MM-DD) are implausible: kept, counted as a
    /// warning, and never the default end of a report or a model.
    pub plausible_since: String,
    /// Likewise receipts dated more than this many days after today.
    pub plausible_days_ahead: u32,
    /// The behavioural model: time unit, RFM, horizons (`[model]` table).
    pub model: unico_model::build::ModelSettings,
    /// The shoppers' app (`[app]` table).
    pub app: AppSettings,
    /// The results-based bill's tariff (`[billing]` table).
    pub billing: BillingSettings,
    /// Sending e-mail (`[mail]` table).
    pub mail: MailSettings,
    /// Messages to customers (`[messages]` table).
    pub messages: MessagesSettings,
    /// Sending SMS through the provider's gateway (`[sms]` table).
    pub sms: SmsSettings,
}

/// Sending SMS: a provider-neutral webhook. Each SMS is POSTed as JSON `{"id", "to", "text"}`
/// (`to` in E.164) with `X-Unico-Signature: t=<unix seconds>,v1=<HMAC-SHA256 hex of
/// "<t>.<body>" with the secret>`, as the event webhooks are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SmsSettings {
    /// The gateway's URL; empty: the SMS wait in the outbox.
    pub webhook_url: String,
    /// The signing secret.
    pub secret: String,
}

/// Sending e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// The SMTP server: `smtp://host:port` (STARTTLS when offered… as the URL says),
    /// `smtps://user:password@host`; empty: e-mails wait in the outbox.
    pub smtp_url: String,
    /// The sender.
    pub from: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings { smtp_url: String::new(), from: "Loyalty programme <offers@example.com>".into() }
    }
}

/// Messages to customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MessagesSettings {
    /// Most marketing messages one customer gets in seven days, every channel together.
    pub max_per_week: i64,
    /// A triggered offer's e-mail subject.
    pub trigger_subject: String,
    /// A triggered offer's e-mail: `{first_name}`, `{offer}`, `{valid_to}`, `{flyer_link}`,
    /// `{unsubscribe_link}` are filled in.
    pub trigger_body: String,
    /// A triggered offer's SMS, to customers who agreed to SMS and not to e-mail.
    pub trigger_sms: String,
}

impl Default for MessagesSettings {
    fn default() -> Self {
        MessagesSettings {
            max_per_week: 2,
            trigger_subject: "A gift for you, {first_name}".into(),
            trigger_body: "Hello {first_name},\n\n{offer}.\nIt is on your card already: show it at the till, or use it in the app, until {valid_to}.\n\nThis week's flyer, your products first: {flyer_link}\n\nNo more e-mails like this one: {unsubscribe_link}\n".into(),
            trigger_sms: "{offer}, until {valid_to}, on your card. Stop: {unsubscribe_link}".into(),
        }
    }
}

/// The tariff of the results-based bill (`unico billing`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingSettings {
    /// `fee_plus_share`, `share` or `lower_of` (the lower of the monthly fee and the share).
    pub tariff: String,
    /// The monthly fee, cents.
    pub monthly_fee_cents: i64,
    /// The share of the month's incremental revenue (0–1).
    pub revenue_share: f64,
    /// What the share applies to: `estimate` (the measured incremental revenue) or
    /// `lower_bound` (the low end of its 95 % interval: only what is surely there).
    pub basis: String,
}

impl Default for BillingSettings {
    fn default() -> Self {
        BillingSettings {
            tariff: "fee_plus_share".into(),
            monthly_fee_cents: 0,
            revenue_share: 0.0,
            basis: "lower_bound".into(),
        }
    }
}

/// The shoppers' app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppSettings {
    /// How the app draws the card: `code128` or `ean13`.
    pub barcode: String,
    /// First digits of new digital cards (a store-internal EAN range: 20–29).
    pub card_prefix: String,
    /// Days a shopper's login lasts.
    pub session_days: i64,
    /// The address shoppers reach the server at (links in messages).
    pub public_url: String,
    /// Click-and-collect: a slot takes orders until this many minutes before it starts.
    pub order_cutoff_minutes: i64,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            barcode: "code128".into(),
            card_prefix: "29".into(),
            session_days: 30,
            public_url: "http://localhost:8080".into(),
            order_cutoff_minutes: 60,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: "Europe/Rome".into(),
            currency: "EUR".into(),
            database_url: None,
            default_country: "IT".into(),
            dedupe_threshold: 0.9,
            privacy_policy_version: "1".into(),
            plausible_since: "2000-01-01".into(),
            plausible_days_ahead: 2,
            model: unico_model::build::ModelSettings::default(),
            app: AppSettings::default(),
            billing: BillingSettings::default(),
            mail: MailSettings::default(),
            messages: MessagesSettings::default(),
            sms: SmsSettings::default(),
        }
    }
}

/// The `unico.toml` that `unico init` writes: the defaults, each with its meaning.
pub const TEMPLATE: &str = r#"# Unico settings. Every key can be overridden by an environment variable UNICO_<KEY>,
# for example UNICO_TIMEZONE=Europe/Madrid.

# The chain's time zone (IANA name). Local dates, month partitions and daily KPIs use it.
timezone = "Europe/Rome"

# Currency of every amount; amounts are stored as integer cents of it.
currency = "EUR"

# The operational store (customers, consents, offers). Default: SQLite file unico.db here.
# database_url = "postgres://unico:secret@db.example/unico"

# Country of phone numbers written without an international prefix.
default_country = "IT"

# Registrations of the same person scoring at least this (0-1) are merged on import;
# `unico customers duplicates` lists the pairs below it for review.
dedupe_threshold = 0.9

# Privacy-policy version that imported consents refer to when the file does not say.
privacy_policy_version = "1"

# Receipts dated before plausible_since, or more than plausible_days_ahead days after today,
# are kept but counted as implausible_date warnings, and never taken as the default last day
# of a model or a report (a till whose clock says 2205).
plausible_since = "2000-01-01"
plausible_days_ahead = 2

# The behavioural model built by `unico model build`.
[model]
# Time unit of BG/NBD and every time it reports: "days" or "weeks".
unit = "days"
# RFM frequency and monetary value count the last this many days.
rfm_window_days = 365
# Horizon of each customer's expected purchases, in days.
horizon_days = 90
# Customer lifetime value: months ahead and monthly discount rate.
clv_months = 12
monthly_discount = 0.01
# Receipt lines the per-product passes (habits, recommendations) hold in memory; beyond it
# they are split by customer and spilled to model/tmp (about 24 bytes a line in memory).
max_lines_in_memory = 32000000

[model.rfm]
# Score levels (5 = quintiles).
bins = 5
# "recent_is_better" for consumables; "older_is_better" for durable goods, where an older
# purchase means a closer next need.
recency = "recent_is_better"

[model.habits]
# Purchase days of a category before its cycle and next due date are estimated.
min_purchases = 3
# Purchase days of a product before it gets a habit of its own (a "frequent item").
product_min_purchases = 4

# `unico recommend`: probability of a purchase within horizon_days, from the customer's own
# purchase rate shrunk towards a prior (item-item similarity, category affinity, popularity).
[model.recommend]
horizon_days = 91
# Weight of the prior, in purchase days.
prior_strength = 3.0
# Similar products kept per product.
neighbours = 50
# Share of global popularity in the prior, and of category affinity in the rest.
popularity_weight = 0.3
category_weight = 0.5
# Best sellers taking part in item-item similarity (4 bytes per pair of them in memory).
max_items = 8000
# Half-life of a purchase in days (0: old purchases count as much as new ones).
recency_days = 0.0
# How much a product selling more in the last four weeks than on average is raised (0–1),
# and how much its sales in the same weeks a year before count (0–1).
trend_weight = 0.0
season_weight = 0.0
# Share of "people who buy like you" in the collaborative part of the prior (the rest is
# item-item): what the people_neighbours shoppers most like the customer bought, found in a
# fixed sample of people_pool shoppers (16 bytes per product of theirs in memory).
people_weight = 0.0
people_neighbours = 200
people_pool = 10000
# Choose prior_strength, popularity_weight, category_weight, recency_days, trend_weight,
# season_weight and people_weight before each `unico recommend` on a time split of the data (train to horizon_days before the as-of
# day, judge on the days after); false uses the values above as they are.
tune_on_time_split = true

# The shoppers' app (`unico serve`, /app).
[app]
# How the app draws the card: "code128", or "ean13" (numeric cards of 13 digits).
barcode = "code128"
# First digits of the digital cards the app issues (20-29 is the in-store EAN range).
card_prefix = "29"
# Days a shopper stays logged in.
session_days = 30
# The address shoppers reach this server at, for links in e-mails and SMS.
public_url = "http://localhost:8080"
# Click-and-collect: a pickup slot takes orders until this many minutes before it starts
# (the time the store needs to pick them).
order_cutoff_minutes = 60

# The results-based bill (`unico billing --month YYYY-MM`).
[billing]
# "fee_plus_share" (the monthly fee plus the share), "share" (the share only) or "lower_of"
# (the lower of the monthly fee and the share).
tariff = "fee_plus_share"
# The monthly fee, cents.
monthly_fee_cents = 0
# The share of the month's incremental revenue (0 to 1).
revenue_share = 0.0
# What the share applies to: "estimate" (the measured incremental revenue) or "lower_bound"
# (the low end of its 95 % interval: only what is surely there).
basis = "lower_bound"

# Sending e-mail: the SMTP server ("smtp://host:25", "smtps://user:password@host"); empty, the
# e-mails wait in the outbox (`unico outbox`).
[mail]
smtp_url = ""
from = "Loyalty programme <offers@example.com>"

# Messages to customers: at most this many marketing messages a week per customer, and the
# e-mail of a triggered offer ({first_name}, {offer}, {valid_to}, {flyer_link},
# {unsubscribe_link} are filled in).
[messages]
max_per_week = 2
trigger_subject = "A gift for you, {first_name}"
trigger_body = "Hello {first_name},\n\n{offer}.\nIt is on your card already: show it at the till, or use it in the app, until {valid_to}.\n\nThis week's flyer, your products first: {flyer_link}\n\nNo more e-mails like this one: {unsubscribe_link}\n"
trigger_sms = "{offer}, until {valid_to}, on your card. Stop: {unsubscribe_link}"

# Sending SMS through the provider's gateway: each is POSTed as JSON {"id", "to", "text"},
# signed like the event webhooks (X-Unico-Signature, HMAC-SHA256 with the secret). Empty: the
# SMS wait in the outbox.
[sms]
webhook_url = ""
secret = ""
"#;

/// Keys that have no default, hence no place in the defaults' table: overridable too.
const OPTIONAL_KEYS: [&str; 1] = ["database_url"];

impl Settings {
    /// Reads settings from the text of a `unico.toml`, then the `UNICO_<KEY>` overrides
    /// that `env` gives, and checks every value.
    pub fn load(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings> {
        let mut table: toml::Table = toml::from_str(text)
            .map_err(|e| Error::with_source(Code::SettingsInvalid, "unico.toml is not valid", e))?;
        let defaults = toml::Table::try_from(Settings::default())
            .map_err(|e| Error::with_source(Code::Internal, "the default settings do not serialise", e))?;
        for (path, default) in leaves(&defaults, Vec::new()) {
            let var = env_name(&path);
            let Some(text) = env(&var) else { continue };
            let value = match default {
                toml::Value::Integer(_) => text.trim().parse::<i64>().map(toml::Value::Integer).ok(),
                toml::Value::Float(_) => text.trim().parse::<f64>().map(toml::Value::Float).ok(),
                toml::Value::Boolean(_) => text.trim().parse::<bool>().map(toml::Value::Boolean).ok(),
                _ => Some(toml::Value::String(text.clone())),
            }
            .ok_or_else(|| {
                Error::new(Code::SettingsInvalid, format!("{var}={text:?} is not a {}", default.type_str()))
            })?;
            set(&mut table, &path, value);
        }
        for key in OPTIONAL_KEYS {
            if let Some(v) = env(&env_name(&[key.to_string()])) {
                table.insert(key.to_string(), toml::Value::String(v));
            }
        }
        let settings: Settings =
            table.try_into().map_err(|e| Error::with_source(Code::SettingsInvalid, "the settings are not valid", e))?;
        settings.check()?;
        Ok(settings)
    }

    /// Every value within its allowed range.
    fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::new(Code::SettingsInvalid, what));
        if jiff::tz::TimeZone::get(&self.timezone).is_err() {
            return bad(format!("timezone {:?} is not an IANA time zone", self.timezone));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return bad(format!("currency {:?} is not an ISO 4217 code such as EUR", self.currency));
        }
        if self.default_country.parse::<phonenumber::country::Id>().is_err() {
            return bad(format!("default_country {:?} is not an ISO 3166 country code", self.default_country));
        }
        if !(self.dedupe_threshold.is_finite() && self.dedupe_threshold > 0.0 && self.dedupe_threshold <= 1.0) {
            return bad(format!("dedupe_threshold {} must be above 0 and at most 1", self.dedupe_threshold));
        }
        if self.plausible_since.parse::<jiff::civil::Date>().is_err() {
            return bad(format!("plausible_since {:?} is not a date (YYYY-MM-DD)", self.plausible_since));
        }
        if self.plausible_days_ahead > 3660 {
            return bad(format!("plausible_days_ahead {} must be at most 3660", self.plausible_days_ahead));
        }
        if self.privacy_policy_version.trim().is_empty() {
            return bad("privacy_policy_version is empty".into());
        }
        let a = &self.app;
        if a.barcode != "code128" && a.barcode != "ean13" {
            return bad(format!("app.barcode {:?} must be code128 or ean13", a.barcode));
        }
        if a.card_prefix.is_empty() || a.card_prefix.len() > 6 || !a.card_prefix.bytes().all(|b| b.is_ascii_digit()) {
            return bad(format!("app.card_prefix {:?} must be 1 to 6 digits", a.card_prefix));
        }
        if !(1..=365).contains(&a.session_days) {
            return bad(format!("app.session_days {} must be 1 to 365", a.session_days));
        }
        let b = &self.billing;
        if !["fee_plus_share", "share", "lower_of"].contains(&b.tariff.as_str()) {
            return bad(format!("billing.tariff {:?} must be fee_plus_share, share or lower_of", b.tariff));
        }
        if b.monthly_fee_cents < 0 {
            return bad(format!("billing.monthly_fee_cents {} must not be negative", b.monthly_fee_cents));
        }
        if !(0.0..=1.0).contains(&b.revenue_share) {
            return bad(format!("billing.revenue_share {} must be 0 to 1", b.revenue_share));
        }
        if !["estimate", "lower_bound"].contains(&b.basis.as_str()) {
            return bad(format!("billing.basis {:?} must be estimate or lower_bound", b.basis));
        }
        let m = &self.mail;
        if !(m.smtp_url.is_empty() || m.smtp_url.starts_with("smtp://") || m.smtp_url.starts_with("smtps://")) {
            return bad("mail.smtp_url must be empty or start with smtp:// or smtps://".into());
        }
        let g = &self.sms;
        if !(g.webhook_url.is_empty() || g.webhook_url.starts_with("http://") || g.webhook_url.starts_with("https://"))
        {
            return bad("sms.webhook_url must be empty or start with http:// or https://".into());
        }
        if !(0..=100).contains(&self.messages.max_per_week) {
            return bad(format!("messages.max_per_week {} must be 0 to 100", self.messages.max_per_week));
        }
        if !(0..=7 * 24 * 60).contains(&a.order_cutoff_minutes) {
            return bad(format!("app.order_cutoff_minutes {} must be 0 to 10080 (a week)", a.order_cutoff_minutes));
        }
        if !(a.public_url.starts_with("http://") || a.public_url.starts_with("https://")) {
            return bad(format!("app.public_url {:?} must start with http:// or https://", a.public_url));
        }
        let m = &self.model;
        let positive = [
            ("model.rfm_window_days", u64::from(m.rfm_window_days)),
            ("model.horizon_days", u64::from(m.horizon_days)),
            ("model.clv_months", u64::from(m.clv_months)),
            ("model.max_lines_in_memory", m.max_lines_in_memory),
            ("model.habits.min_purchases", u64::from(m.habits.min_purchases)),
            ("model.habits.product_min_purchases", u64::from(m.habits.product_min_purchases)),
            ("model.recommend.horizon_days", u64::from(m.recommend.horizon_days)),
            ("model.recommend.neighbours", m.recommend.neighbours as u64),
            ("model.recommend.max_items", m.recommend.max_items as u64),
            ("model.recommend.people_neighbours", m.recommend.people_neighbours as u64),
            ("model.recommend.people_pool", m.recommend.people_pool as u64),
        ];
        for (key, v) in positive {
            if v == 0 {
                return bad(format!("{key} must be at least 1"));
            }
        }
        if !(2..=10).contains(&m.rfm.bins) {
            return bad(format!("model.rfm.bins {} must be 2 to 10", m.rfm.bins));
        }
        let shares = [
            ("model.monthly_discount", m.monthly_discount),
            ("model.recommend.popularity_weight", m.recommend.popularity_weight),
            ("model.recommend.category_weight", m.recommend.category_weight),
            ("model.recommend.trend_weight", m.recommend.trend_weight),
            ("model.recommend.season_weight", m.recommend.season_weight),
            ("model.recommend.people_weight", m.recommend.people_weight),
        ];
        for (key, v) in shares {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return bad(format!("{key} {v} must be between 0 and 1"));
            }
        }
        if !(m.recommend.recency_days.is_finite() && m.recommend.recency_days >= 0.0) {
            return bad(format!("model.recommend.recency_days {} must be 0 or more", m.recommend.recency_days));
        }
        if !(m.recommend.prior_strength.is_finite() && m.recommend.prior_strength >= 0.0) {
            return bad(format!("model.recommend.prior_strength {} must be 0 or more", m.recommend.prior_strength));
        }
        Ok(())
    }

    /// The name of every key with the variable that overrides it (for the docs and tests).
    pub fn overrides() -> Vec<(String, String)> {
        let defaults = toml::Table::try_from(Settings::default()).expect("defaults serialise");
        let mut out: Vec<(String, String)> =
            leaves(&defaults, Vec::new()).into_iter().map(|(p, _)| (p.join("."), env_name(&p))).collect();
        out.extend(OPTIONAL_KEYS.iter().map(|k| (k.to_string(), env_name(&[k.to_string()]))));
        out
    }
}

/// `UNICO_` and the key's path, upper case, joined with underscores.
fn env_name(path: &[String]) -> String {
    format!("UNICO_{}", path.join("_").to_uppercase())
}

/// Every leaf of a table with its path.
fn leaves(table: &toml::Table, prefix: Vec<String>) -> Vec<(Vec<String>, toml::Value)> {
    let mut out = Vec::new();
    for (k, v) in table {
        let mut path = prefix.clone();
        path.push(k.clone());
        match v {
            toml::Value::Table(t) => out.extend(leaves(t, path)),
            _ => out.push((path, v.clone())),
        }
    }
    out
}

fn set(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let (last, parents) = path.split_last().expect("a key");
    let mut t = table;
    for p in parents {
        let entry = t.entry(p.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        t = entry.as_table_mut().expect("a table");
    }
    t.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_template_says_the_defaults() {
        let read = Settings::load(TEMPLATE, &|_| None).expect("the template reads");
        assert_eq!(read, Settings::default());
    }

    #[test]
    fn every_key_is_overridden_by_its_variable() {
        // A valid value other than the default for every key.
        let strings: HashMap<&str, &str> = [
            ("timezone", "Asia/Tokyo"),
            ("currency", "USD"),
            ("default_country", "FR"),
            ("privacy_policy_version", "7"),
            ("plausible_since", "1995-06-01"),
            ("model.unit", "weeks"),
            ("model.rfm.recency", "older_is_better"),
            ("database_url", "postgres://u@h/db"),
            ("app.barcode", "ean13"),
            ("app.card_prefix", "2099"),
            ("app.public_url", "https://shop.example"),
            ("billing.tariff", "lower_of"),
            ("billing.basis", "estimate"),
            ("mail.smtp_url", "smtp://127.0.0.1:2525"),
            ("mail.from", "Shop <a@b.example>"),
            ("messages.trigger_subject", "Hi"),
            ("messages.trigger_body", "Hello {first_name}"),
            ("messages.trigger_sms", "Hi"),
            ("sms.webhook_url", "https://sms.example/send"),
            ("sms.secret", "a-secret-of-sixteen-chars"),
        ]
        .into_iter()
        .collect();
        let defaults = toml::Table::try_from(Settings::default()).unwrap();
        let leaves: HashMap<String, toml::Value> =
            leaves(&defaults, Vec::new()).into_iter().map(|(p, v)| (p.join("."), v)).collect();
        let overrides = Settings::overrides();
        assert!(overrides.len() >= 20, "{overrides:?}");
        for (key, var) in overrides {
            let value = match leaves.get(&key) {
                Some(toml::Value::Integer(i)) => (i + 1).to_string(),
                Some(toml::Value::Float(f)) => (if *f == 0.0 { 0.5 } else { f * 0.5 }).to_string(),
                Some(toml::Value::Boolean(b)) => (!b).to_string(),
                _ => strings.get(key.as_str()).unwrap_or_else(|| panic!("give {key} a test value")).to_string(),
            };
            let env = |name: &str| (name == var).then(|| value.clone());
            let read = Settings::load(TEMPLATE, &env).unwrap_or_else(|e| panic!("{var}={value}: {e:?}"));
            assert_ne!(read, Settings::default(), "{var}={value} was not read");
            let back = toml::Table::try_from(&read).unwrap();
            let got = key.split('.').try_fold(toml::Value::Table(back), |t, k| t.get(k).cloned());
            let expected = leaves.get(&key).map_or(toml::Value::String(value.clone()), |d| match d {
                toml::Value::Integer(_) => toml::Value::Integer(value.parse().unwrap()),
                toml::Value::Float(_) => toml::Value::Float(value.parse().unwrap()),
                toml::Value::Boolean(_) => toml::Value::Boolean(value.parse().unwrap()),
                _ => toml::Value::String(value.clone()),
            });
            assert_eq!(got, Some(expected), "{var}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, failure_persistence: None, ..Default::default() })]

        /// No settings file or variable reaches a panic: a value is read or refused.
        #[test]
        fn any_settings_text_or_variable_is_read_or_refused(
            text in "(timezone|currency|dedupe_threshold|plausible_since|\\[model\\]|\\[model\\.rfm\\]|bins|unit| = |\"[A-Za-z/_-]{0,10}\"|-?[0-9.e]{1,8}|nan|inf|\n){0,30}",
            value in "(-?[0-9.e]{0,12}|nan|inf|days|weeks|Europe/Rome|[A-Za-z]{0,5})",
            key in 0usize..24,
        ) {
            let _ = Settings::load(&text, &|_| None);
            let overrides = Settings::overrides();
            let var = overrides[key % overrides.len()].1.clone();
            let _ = Settings::load(TEMPLATE, &|name: &str| (name == var).then(|| value.clone()));
        }
    }

    #[test]
    fn values_out_of_range_are_refused() {
        for (var, value) in [
            ("UNICO_DEDUPE_THRESHOLD", "-5"),
            ("UNICO_DEDUPE_THRESHOLD", "NaN"),
            ("UNICO_DEDUPE_THRESHOLD", "1e300"),
            ("UNICO_TIMEZONE", "Mars/Base"),
            ("UNICO_MODEL_RFM_BINS", "0"),
            ("UNICO_MODEL_HORIZON_DAYS", "0"),
            ("UNICO_MODEL_UNIT", "fortnights"),
            ("UNICO_MODEL_MONTHLY_DISCOUNT", "inf"),
            ("UNICO_CURRENCY", "euro"),
        ] {
            let env = |name: &str| (name == var).then(|| value.to_string());
            let e = Settings::load(TEMPLATE, &env).expect_err(var);
            assert_eq!(e.code(), Code::SettingsInvalid, "{var}={value}");
        }
    }
}
