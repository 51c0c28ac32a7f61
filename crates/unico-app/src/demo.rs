//! The demo chain's back office: a user of each role, goals on the programme's KPIs, a
//! published campaign and a few shoppers' tickets, so that `unico demo` ends on a back
//! office with something to look at. Passwords are generated (a demo server is still a
//! server) and returned once, to be printed.

use crate::error::Result;
use crate::kpi::{GoalRequest, Grain, KpiRequest};
use crate::staff::{Caller, Role};
use crate::{App, Silent};
use serde::Serialize;

/// A demo login.
#[derive(Debug, Clone, Serialize)]
pub struct DemoLogin {
    /// The e-mail.
    pub email: String,
    /// The role.
    pub role: Role,
    /// The password (none when the user was there already).
    pub password: Option<String>,
    /// A store manager's store.
    pub store_id: Option<String>,
}

/// What the demo's back office holds.
#[derive(Debug, Clone, Serialize)]
pub struct DemoOffice {
    /// A user of each role.
    pub logins: Vec<DemoLogin>,
    /// Goals added.
    pub goals: usize,
    /// The campaign published, when one was planned.
    pub campaign: Option<String>,
    /// Tickets opened by shoppers.
    pub tickets: usize,
    /// Click-and-collect pickup slots added to the first store.
    pub slots: usize,
    /// Click-and-collect orders placed there (one to prepare, one being prepared, one ready).
    pub orders: usize,
}

impl App {
    /// Seeds the demo's back office (what is there already is kept); `policy` is the text
    /// of the campaign's policy file, planned for the fortnight after the data (its
    /// `valid_from` and `valid_to` lines are set) into `campaigns/demo` and published.
    pub fn seed_demo_office(&self, policy: &str) -> Result<DemoOffice> {
        let cli = Caller::cli();
        let store = self.app_stores()?.into_iter().map(|s| s.store_id).next();
        let existing = self.users()?;
        let mut logins = Vec::new();
        for (role, email) in [
            (Role::Admin, "admin@demo.example"),
            (Role::Marketing, "marketing@demo.example"),
            (Role::StoreManager, "store@demo.example"),
            (Role::Support, "support@demo.example"),
        ] {
            let store_id = (role == Role::StoreManager).then(|| store.clone()).flatten();
            if role == Role::StoreManager && store_id.is_none() {
                continue;
            }
            let password = if existing.iter().any(|u| u.email == email) {
                None
            } else {
                self.add_user(email, role, store_id.as_deref(), None, &cli)?.password
            };
            logins.push(DemoLogin { email: email.into(), role, password, store_id });
        }
        let goals = if self.with_store(async |s| Ok(s.goals().await?))?.is_empty() {
            self.demo_goals(store.as_deref())?
        } else {
            0
        };
        let campaign = if self.campaigns()?.is_empty() {
            let from = self.last_day()?.checked_add(jiff::Span::new().days(1)).unwrap_or_else(|_| self.today());
            let to = from.checked_add(jiff::Span::new().days(13)).unwrap_or(from);
            let dated: Vec<String> = policy
                .lines()
                .map(|l| {
                    if l.starts_with("valid_from =") {
                        format!("valid_from = \"{from}\"")
                    } else if l.starts_with("valid_to =") {
                        format!("valid_to = \"{to}\"")
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            let path = self.keep_policy(&(dated.join("\n") + "\n"))?;
            let out = self.root().join("campaigns").join("demo");
            let req = crate::plan::PlanRequest { policy: path, as_of: None, out, dry_run: false };
            let planned = self.plan_campaign(&req, &Silent)?;
            self.publish_campaign(&planned.campaign_id, &cli)?;
            Some(planned.campaign_id)
        } else {
            None
        };
        let tickets = match &store {
            Some(s) if self.store_tickets(None)?.is_empty() => self.demo_tickets(s)?,
            _ => 0,
        };
        let (slots, orders) = match &store {
            Some(s) if self.store_slots(Some(s))?.is_empty() => self.demo_orders(s)?,
            _ => (0, 0),
        };
        Ok(DemoOffice { logins, goals, campaign, tickets, slots, orders })
    }

    /// Pickup slots at `store` tomorrow and the day after (10:00 to 19:00, hourly, four
    /// orders each), and three shoppers' orders of their usual products for tomorrow's
    /// first slots: one to prepare, one being prepared (a line missing), one ready. None is
    /// collected: the demo's lake keeps its simulated history only.
    fn demo_orders(&self, store: &str) -> Result<(usize, usize)> {
        let mut slots = Vec::new();
        for days in [1, 2] {
            let day = self.today().checked_add(jiff::Span::new().days(days)).unwrap_or(self.today()).to_string();
            slots.extend(self.add_slots(store, &day, "10:00", "19:00", 60, 4)?);
        }
        let catalogue = self.catalogue()?;
        let priced: Vec<&str> =
            catalogue.iter().filter(|p| p.list_price_cents.is_some_and(|c| c > 0)).map(|p| p.sku.as_str()).collect();
        let mut orders = 0;
        for (i, card) in self.cards()?.iter().skip(10).take(3).enumerate() {
            let Some(slot) = slots.get(i) else { break };
            let id = card.customer_id;
            let habits = self.with_store(async |s| Ok(s.habits_of(id).await?))?;
            let mut skus: Vec<String> =
                habits.into_iter().map(|h| h.0).filter(|s| priced.contains(&s.as_str())).collect();
            skus.dedup();
            skus.truncate(4);
            if skus.is_empty() {
                skus = priced.iter().skip(7 * i).take(3).map(|s| s.to_string()).collect();
            }
            let lines = skus.into_iter().map(|sku| crate::orders::ShopLine { sku, quantity: 1 }).collect();
            let order = crate::orders::OrderIn { store_id: store.to_string(), slot_id: slot.id, lines };
            let placed = self.place_for(id, &order, &format!("demo-{i}"))?;
            if i == 1 && placed.lines.len() > 1 {
                let missing = crate::orders::PickIn { status: "missing".into(), sku: None, quantity: None };
                self.order_pick(placed.id, 2, &missing)?;
            }
            if i == 2 {
                self.order_ready(placed.id)?;
            }
            orders += 1;
        }
        Ok((slots.len(), orders))
    }

    /// Goals a quarter ahead of the data: the loyalty share and the card's average-receipt
    /// gap for the chain, card revenue for the first store, each a little above today's.
    fn demo_goals(&self, store: Option<&str>) -> Result<usize> {
        // The last twelve weeks, for the chain or one store.
        let weekly = |store: Option<&str>| {
            let by = Grain::Week;
            let store = store.map(str::to_string);
            let req =
                KpiRequest { from: None, to: None, by, by_store: false, by_channel: false, by_segment: false, store };
            self.kpis(&req, &Silent)
        };
        let last = weekly(None)?;
        let deadline = last.to.checked_add(jiff::Span::new().days(91)).unwrap_or(last.to).to_string();
        let value = |rows: &[crate::kpi::Row], name: &str| {
            let i = crate::kpi::ALL_KPIS.iter().position(|k| k.name() == name)?;
            rows.iter().rev().filter(|r| r.days == 7).find_map(|r| r.values.get(i).copied().flatten())
        };
        let mut goals = Vec::new();
        if let Some(v) = value(&last.rows, "loyalty_share") {
            goals.push(("loyalty_share", ((v + 0.02) * 100.0).round() / 100.0, None));
        }
        if let Some(v) = value(&last.rows, "average_receipt_gap_cents") {
            goals.push(("average_receipt_gap_cents", ((v.max(0.0) * 1.2) / 100.0).round() * 100.0 + 100.0, None));
        }
        if let Some(s) = store {
            let mine = weekly(Some(s))?;
            if let Some(v) = value(&mine.rows, "revenue_card_cents") {
                goals.push(("revenue_card_cents", (v * 1.1 / 10_000.0).round() * 10_000.0, Some(format!("store:{s}"))));
            }
        }
        for (kpi, target, scope) in &goals {
            self.add_goal(&GoalRequest {
                kpi: kpi.to_string(),
                target: *target,
                by: deadline.clone(),
                scope: scope.clone(),
                review: "weekly".into(),
                notify: vec!["mailto:marketing@demo.example".into()],
            })?;
        }
        Ok(goals.len())
    }

    /// Two shoppers write to the first store.
    fn demo_tickets(&self, store: &str) -> Result<usize> {
        let cards = self.cards()?;
        let texts = [
            ("Missing offer at the till", "My coffee offer was not applied at the till on Saturday. Could you check?"),
            ("Thank you", "The staff at the fresh counter were very helpful. Will there be more organic products?"),
        ];
        let mut n = 0;
        for (card, (subject, body)) in cards.iter().zip(texts) {
            let id = card.customer_id;
            self.with_store(async |s| Ok(s.open_ticket(id, store, subject, body).await?))?;
            n += 1;
        }
        Ok(n)
    }
}
