//! Triggered offers: a moment in one person's life is a moment for their offer — a
//! birthday, a card's anniversary, a new card's first weeks, P(alive) falling or a staple long
//! overdue (win-back), a ticket rated unhappily (an apology), a first online order.
//!
//! The triggers are the `[[trigger]]` sections of `<data>/triggers.toml`, each with its own
//! monthly budget, its offer (an amount off a shop of at least some spend), how long the offer
//! is valid, a cool-down and a holdout. `unico triggers run [--as-of DATE]` evaluates them
//! for one day of the chain's calendar: each trigger's customers of that day, with the
//! marketing consent given (and the profiling consent for the win-back, which reads the
//! model), not reached by the same trigger within its cool-down, in an order drawn from a
//! keyed hash; each is held out with the trigger's holdout share or offered while the month's
//! budget lasts (the first customer the budget cannot take ends the day, so both arms come
//! from the same customers). The day's offers and arms are stored as a campaign named after
//! the trigger (`<name> <day>`) and published at once — so the app shows them, the tills
//! redeem them, and `unico measure` and `unico billing` measure them against their holdout
//! like any campaign. A day run twice issues nothing twice: its campaign is there already.
//! The server runs the triggers every hour (each day once). See `docs/triggers.md`.

use crate::error::{Code, Error, Result};
use crate::staff::Caller;
use crate::{App, bail};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::HashSet;
use unico_store::campaigns::{Campaign, Member, StoredOffer};

/// The file of the triggers, in the data directory.
pub const FILE: &str = "triggers.toml";
/// The chance of redemption a triggered offer is planned with (its expected cost).
pub const PRIOR_REDEMPTION: f64 = 0.3;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggersFile {
    trigger: Vec<TriggerSpec>,
}

/// One trigger.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// Its name; its campaigns are `<name> <day>`.
    pub name: String,
    /// `birthday`, `anniversary`, `welcome`, `win_back`, `apology` or `first_online_order`.
    pub kind: String,
    /// What its offers may cost in a calendar month, each counted as redeemed, cents.
    pub monthly_budget_cents: i64,
    /// The offer: this much off…
    pub amount_off_cents: i64,
    /// …a shop of at least this much, cents.
    #[serde(default)]
    pub min_spend_cents: i64,
    /// Days the offer is valid, from the day it is issued.
    #[serde(default = "fourteen")]
    pub valid_days: i64,
    /// A customer the trigger reached is not reached again by it for this many days.
    #[serde(default = "year")]
    pub cool_down_days: i64,
    /// Share held out (0–0.5): they get nothing, and are the trigger's control.
    #[serde(default = "tenth")]
    pub holdout_share: f64,
    /// Birthday and anniversary: issue this many days before the day.
    #[serde(default)]
    pub days_before: i64,
    /// Welcome: a card registered within this many days.
    #[serde(default = "four_weeks")]
    pub within_days: i64,
    /// Win-back: P(alive) below this…
    #[serde(default)]
    pub p_alive_below: Option<f64>,
    /// …or a staple overdue by more than this many days.
    #[serde(default)]
    pub overdue_days: Option<i64>,
}

fn fourteen() -> i64 {
    14
}
fn year() -> i64 {
    365
}
fn tenth() -> f64 {
    0.1
}
fn four_weeks() -> i64 {
    28
}

const KINDS: [&str; 6] = ["birthday", "anniversary", "welcome", "win_back", "apology", "first_online_order"];

/// Reads and checks the triggers of a `triggers.toml`.
pub fn parse(text: &str) -> Result<Vec<TriggerSpec>> {
    let file: TriggersFile =
        toml::from_str(text).map_err(|e| Error::new(Code::PolicyInvalid, format!("{FILE}: {e}")))?;
    let mut names = HashSet::new();
    for t in &file.trigger {
        let bad = |m: String| Error::new(Code::PolicyInvalid, format!("{FILE}: trigger {:?}: {m}", t.name));
        if t.name.trim().is_empty() || t.name.len() > 80 {
            return Err(bad("a name of 1 to 80 characters".into()));
        }
        if !names.insert(t.name.clone()) {
            return Err(bad("two triggers have this name".into()));
        }
        if !KINDS.contains(&t.kind.as_str()) {
            return Err(bad(format!("kind {:?}: one of {}", t.kind, KINDS.join(", "))));
        }
        if t.amount_off_cents <= 0 || t.min_spend_cents < 0 || t.monthly_budget_cents < 0 {
            return Err(bad("amount_off_cents above 0, min_spend_cents and monthly_budget_cents not below 0".into()));
        }
        if !(1..=366).contains(&t.valid_days) || !(0..=3660).contains(&t.cool_down_days) {
            return Err(bad("valid_days 1 to 366, cool_down_days 0 to 3660".into()));
        }
        if !(0.0..=0.5).contains(&t.holdout_share) {
            return Err(bad(format!("holdout_share {} must be 0 to 0.5", t.holdout_share)));
        }
        if !(0..=60).contains(&t.days_before) || !(1..=366).contains(&t.within_days) {
            return Err(bad("days_before 0 to 60, within_days 1 to 366".into()));
        }
        if t.kind == "win_back" && t.p_alive_below.is_none() && t.overdue_days.is_none() {
            return Err(bad("a win-back needs p_alive_below, overdue_days or both".into()));
        }
        if t.p_alive_below.is_some_and(|p| !(0.0..=1.0).contains(&p)) || t.overdue_days.is_some_and(|d| d < 1) {
            return Err(bad("p_alive_below 0 to 1, overdue_days at least 1".into()));
        }
    }
    Ok(file.trigger)
}

/// What one trigger did on a day.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerRun {
    /// The trigger.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// The day's campaign, when it issued or held out anyone.
    pub campaign: Option<String>,
    /// The day had been run already: nothing was issued again.
    pub already_run: bool,
    /// Customers at the moment, with the consents it needs.
    pub eligible: usize,
    /// Left out: reached by the trigger within its cool-down.
    pub cooling_down: usize,
    /// Offers issued.
    pub issued: usize,
    /// Held out.
    pub held_out: usize,
    /// Left without an offer: the month's budget was spent.
    pub over_budget: usize,
    /// Offers announced by e-mail (marketing and e-mail consents, the weekly cap).
    pub announced: usize,
}

/// What a day's run did.
#[derive(Debug, Clone, Serialize)]
pub struct TriggersRun {
    /// The day, in the chain's calendar.
    pub day: String,
    /// Each trigger.
    pub triggers: Vec<TriggerRun>,
}

/// A fraction in [0, 1) from a keyed hash: the customer's draw for a trigger and day.
fn draw(seed: &str, key: &str) -> f64 {
    let h = sha2::Sha256::digest(format!("{seed}\u{1f}{key}").as_bytes());
    let n = u64::from_be_bytes(h[..8].try_into().expect("eight bytes"));
    (n >> 11) as f64 / (1u64 << 53) as f64
}

/// `month-day` of an ISO date, a 29 February falling on the 28th in other years.
fn same_day_of_year(date: &str, on: jiff::civil::Date) -> bool {
    let Ok(d) = date.get(..10).unwrap_or("").parse::<jiff::civil::Date>() else { return false };
    if d.month() == 2 && d.day() == 29 && !on.in_leap_year() {
        return on.month() == 2 && on.day() == 28;
    }
    d.month() == on.month() && d.day() == on.day()
}

impl App {
    /// The triggers of `<data>/triggers.toml` (none when there is no such file).
    pub fn triggers(&self) -> Result<Option<(String, Vec<TriggerSpec>)>> {
        let path = self.root().join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some((text.clone(), parse(&text)?))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::with_source(Code::Io, format!("cannot read {}", path.display()), e)),
        }
    }

    /// Runs the triggers for `as_of` (today in the chain's zone when absent); the offers are
    /// announced by e-mail with links of `tenant` (docs/messages.md).
    pub fn run_triggers(&self, as_of: Option<&str>, tenant: &str, by: &Caller) -> Result<TriggersRun> {
        let day: jiff::civil::Date = match as_of {
            Some(d) => d.parse().map_err(|_| Error::new(Code::InputInvalid, format!("--as-of {d:?} is not a date")))?,
            None => self.today(),
        };
        let Some((_, specs)) = self.triggers()? else {
            bail!(Code::NotFound, "no {FILE} in the data directory: write the triggers there (docs/triggers.md)");
        };
        let mut out = Vec::new();
        for t in &specs {
            out.push(self.run_trigger(t, day, tenant, by)?);
        }
        Ok(TriggersRun { day: day.to_string(), triggers: out })
    }

    fn run_trigger(&self, t: &TriggerSpec, day: jiff::civil::Date, tenant: &str, by: &Caller) -> Result<TriggerRun> {
        let id = format!("{} {day}", t.name);
        let mut run = TriggerRun {
            name: t.name.clone(),
            kind: t.kind.clone(),
            campaign: None,
            already_run: false,
            eligible: 0,
            cooling_down: 0,
            issued: 0,
            held_out: 0,
            over_budget: 0,
            announced: 0,
        };
        if self.with_store(async |s| Ok(s.has_campaign(&id).await?))? {
            run.already_run = true;
            run.campaign = Some(id);
            return Ok(run);
        }
        let days = |n: i64| day.checked_add(jiff::Span::new().days(n)).unwrap_or(day);
        let target = days(t.days_before);
        let tz = self.chain_tz();
        let start_of = |d: jiff::civil::Date| -> String {
            tz.to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                .compatible()
                .map(unico_store::stamp)
                .unwrap_or_default()
        };
        let reachable = self.with_store(async |s| Ok(s.marketing_customers().await?))?;
        // The customers at the moment, among those who agreed to marketing.
        let mut chosen: Vec<(i64, String)> = Vec::new();
        match t.kind.as_str() {
            "birthday" | "anniversary" | "welcome" => {
                let since = days(-t.within_days).to_string();
                for (customer, key) in &reachable {
                    let (birth, registered) =
                        self.with_store(async |s| Ok(s.birth_and_registration(*customer).await?))?;
                    let at_moment = match t.kind.as_str() {
                        "birthday" => birth.as_deref().is_some_and(|b| same_day_of_year(b, target)),
                        "anniversary" => registered.as_deref().is_some_and(|r| {
                            same_day_of_year(r, target)
                                && r.get(..4).and_then(|y| y.parse::<i16>().ok()) < Some(target.year())
                        }),
                        _ => registered
                            .as_deref()
                            .and_then(|r| r.get(..10))
                            .is_some_and(|r| r >= since.as_str() && r <= day.to_string().as_str()),
                    };
                    if at_moment {
                        chosen.push((*customer, key.clone()));
                    }
                }
            }
            "win_back" => {
                let profiling: HashSet<i64> =
                    self.with_store(async |s| Ok(s.consenting_customers("profiling").await?))?.into_iter().collect();
                let (low, overdue) = self.with_store(async |s| {
                    let low = match t.p_alive_below {
                        Some(p) => s.keys_p_alive_below(p).await?,
                        None => HashSet::new(),
                    };
                    let overdue = match t.overdue_days {
                        Some(d) => s.keys_overdue_before(&days(-d).to_string()).await?,
                        None => HashSet::new(),
                    };
                    Ok((low, overdue))
                })?;
                chosen = reachable
                    .iter()
                    .filter(|(c, k)| profiling.contains(c) && (low.contains(k) || overdue.contains(k)))
                    .cloned()
                    .collect();
            }
            "apology" => {
                let yesterday = days(-1).to_string();
                let unhappy = self.with_store(async |s| Ok(s.keys_unhappy_on(&yesterday).await?))?;
                let customers = self.with_store(async |s| Ok(s.customers_of_keys(&unhappy).await?))?;
                let ids: HashSet<i64> = customers.values().copied().collect();
                chosen = reachable.iter().filter(|(c, _)| ids.contains(c)).cloned().collect();
            }
            _ => {
                let (from, to) = (start_of(days(-1)), start_of(day));
                let first = self.with_store(async |s| Ok(s.first_orders_between(&from, &to).await?))?;
                chosen = reachable.iter().filter(|(c, _)| first.contains(c)).cloned().collect();
            }
        }
        run.eligible = chosen.len();
        let since = days(-t.cool_down_days).to_string();
        let month_start = day.first_of_month().to_string();
        let (reached, committed) = self.with_store(async |s| {
            Ok((
                s.trigger_reached_since(&t.name, &since).await?,
                s.trigger_committed(&t.name, &month_start, &day.to_string()).await?,
            ))
        })?;
        let before = chosen.len();
        chosen.retain(|(_, k)| !reached.contains(k));
        run.cooling_down = before - chosen.len();
        // The day's order and each customer's arm, from keyed hashes of the trigger and day.
        let seed = format!("{}\u{1f}{day}", t.name);
        chosen.sort_by(|a, b| draw(&seed, &a.1).total_cmp(&draw(&seed, &b.1)).then(a.0.cmp(&b.0)));
        let mut left = t.monthly_budget_cents - committed;
        let secret = self.offer_secret()?;
        let valid_to = days(t.valid_days - 1).to_string();
        let personal = t.kind == "win_back";
        let euros = |c: i64| format!("{}.{:02}", c / 100, c % 100);
        let reason = match t.kind.as_str() {
            "birthday" => "Happy birthday",
            "anniversary" => "A year more with your card",
            "welcome" => "Welcome to the programme",
            "win_back" => "We miss you",
            "apology" => "We are sorry about your recent experience",
            _ => "Thank you for your first order online",
        };
        let mut offers = Vec::new();
        let mut members = Vec::new();
        let mut offered: Vec<(i64, String)> = Vec::new();
        for (i, (customer, key)) in chosen.iter().enumerate() {
            let held = draw(&format!("{seed}\u{1f}holdout"), key) < t.holdout_share;
            if !held && left < t.amount_off_cents {
                run.over_budget = chosen.len() - i;
                break;
            }
            let offer_type = if personal { "personal" } else { "generic" };
            members.push(Member {
                customer_key: key.clone(),
                status: if held { "holdout".into() } else { offer_type.into() },
                segment: String::new(),
                store_id: None,
                offer_type: offer_type.into(),
            });
            if held {
                run.held_out += 1;
                continue;
            }
            left -= t.amount_off_cents;
            offered.push((
                *customer,
                format!("{reason}: {} off a shop of {} or more", euros(t.amount_off_cents), euros(t.min_spend_cents)),
            ));
            offers.push(StoredOffer {
                code: unico_offers::code::offer_code(&secret, &id, key, "basket", 0),
                customer_key: key.clone(),
                rank: 1,
                sku: String::new(),
                target: "basket".into(),
                category: None,
                mechanic: "spend_reward".into(),
                buy_units: 1,
                pay_units: 1,
                min_spend_cents: t.min_spend_cents,
                kind: t.kind.clone(),
                percent_off: 0,
                discount_cents: t.amount_off_cents,
                valid_from: day.to_string(),
                valid_to: valid_to.clone(),
                p_redeem: PRIOR_REDEMPTION,
                expected_cost_cents: (PRIOR_REDEMPTION * t.amount_off_cents as f64).round() as i64,
                expected_incremental_margin_cents: 0,
                personal,
                reason: format!(
                    "{reason}: {} off a shop of {} or more, until {valid_to}",
                    euros(t.amount_off_cents),
                    euros(t.min_spend_cents)
                ),
                p0: 0.0,
                affinity: 0.0,
                band: 0,
                budgets: "total".into(),
                max_times: 1,
            });
            run.issued += 1;
        }
        if members.is_empty() {
            return Ok(run);
        }
        let campaign = Campaign {
            id: id.clone(),
            name: t.name.clone(),
            valid_from: day.to_string(),
            valid_to,
            seed: i64::from_be_bytes(sha2::Sha256::digest(seed.as_bytes())[..8].try_into().expect("eight bytes")),
            policy: toml::to_string(t).unwrap_or_default(),
            summary: serde_json::json!({"trigger": t.kind, "issued": run.issued, "held_out": run.held_out,
                "over_budget": run.over_budget, "cooling_down": run.cooling_down})
            .to_string(),
            directory: None,
            activation_required: false,
            stores: Vec::new(),
            min_margin: None,
            budgets: vec![("total".into(), (t.monthly_budget_cents - committed).max(0))],
        };
        self.with_store(async |s| Ok(s.store_campaign(&campaign, &offers, &members).await?))?;
        self.publish_campaign(&id, by)?;
        for (customer, offer) in &offered {
            if self.announce_offer(tenant, *customer, offer, &campaign.valid_to)? {
                run.announced += 1;
            }
        }
        run.campaign = Some(id);
        Ok(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leap_day_birthday_is_on_the_28th_of_other_years() {
        let on = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
        assert!(same_day_of_year("2000-02-29", on("2024-02-29")));
        assert!(same_day_of_year("2000-02-29", on("2025-02-28")));
        assert!(!same_day_of_year("2000-02-29", on("2024-02-28")));
        assert!(same_day_of_year("1980-12-01", on("2026-12-01")));
        assert!(!same_day_of_year("1980-12-02", on("2026-12-01")));
        assert!(!same_day_of_year("", on("2026-12-01")));
    }

    #[test]
    fn a_triggers_file_is_checked() {
        let ok = "[[trigger]]\nname = \"Birthday\"\nkind = \"birthday\"\nmonthly_budget_cents = 100000\namount_off_cents = 500\nmin_spend_cents = 2000\n";
        assert_eq!(parse(ok).unwrap()[0].holdout_share, 0.1);
        for bad in [
            ok.replace("birthday\"\nmonthly", "birthdays\"\nmonthly"),
            ok.replace("500", "0"),
            format!("{ok}holdout_share = 0.7\n"),
            ok.replace("kind = \"birthday\"", "kind = \"win_back\""),
            format!("{ok}{ok}"),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn draws_are_uniform_enough_and_fixed() {
        let n = 20_000;
        let held = (0..n).filter(|i| draw("Birthday\u{1f}2026-12-01\u{1f}holdout", &format!("key{i}")) < 0.1).count();
        assert!((1_700..2_300).contains(&held), "{held} of {n} held out at 10 %");
        assert_eq!(draw("a", "b"), draw("a", "b"));
    }
}
