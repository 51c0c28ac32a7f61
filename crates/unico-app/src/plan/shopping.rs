//! The pure parts of a customer's candidates: how their shopping days and categories
//! value category-wide offers and spend rewards, and the chance a product bought on a
//! cycle is due within the campaign's window. Unit-tested here.

use unico_offers::plan::{CategoryCandidate, SpendInput};

/// Days of history the category and spend figures of a customer are taken over.
pub(crate) const STATS_DAYS: i32 = 182;
/// Categories per customer considered for category-wide offers (their largest shares).
const CATEGORY_CANDIDATES: usize = 5;

/// A customer's shopping over the last [`STATS_DAYS`]: what each day came to and the days
/// they bought in each category.
pub(crate) struct Shopping {
    /// Days observed (from their first purchase in the period), at least 1.
    span_days: f64,
    /// Net spend of each shopping day, cents (a day's receipts together: one trip).
    days: Vec<i64>,
    /// (category, days with a purchase in it), by category.
    category_days: Vec<(u32, u32)>,
}

impl Shopping {
    pub(crate) fn of(
        records: &[unico_model::lines::LineRecord],
        category_of_item: &[u32],
        since: i32,
        as_of: i32,
    ) -> Shopping {
        let recent: Vec<&unico_model::lines::LineRecord> = records.iter().filter(|r| r.day > since).collect();
        let first = recent.iter().map(|r| r.day).min().unwrap_or(as_of);
        let mut by_day: std::collections::BTreeMap<i32, i64> = Default::default();
        let mut pairs: Vec<(u32, i32)> = Vec::with_capacity(recent.len());
        for r in &recent {
            *by_day.entry(r.day).or_default() += r.net_cents;
            pairs.push((category_of_item[r.item as usize], r.day));
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut category_days: Vec<(u32, u32)> = Vec::new();
        for (cat, _) in pairs {
            match category_days.last_mut() {
                Some((c, n)) if *c == cat => *n += 1,
                _ => category_days.push((cat, 1)),
            }
        }
        Shopping {
            span_days: f64::from((as_of - first + 1).max(1)),
            days: by_day.into_values().filter(|v| *v > 0).collect(),
            category_days,
        }
    }

    /// Their main categories as candidates: `p0` from how often they shop each (a Poisson
    /// rate over the window), the affinity from their share of wallet (as for products)
    /// times the chance they shop at all in the window (P(alive) and their trip rate): an
    /// offer cannot move someone who does not come.
    pub(crate) fn categories(
        &self,
        shares: &[(u32, f32)],
        n_categories: f64,
        window: f64,
        p_alive: f64,
        names: &[String],
    ) -> Vec<CategoryCandidate> {
        let comes = p_alive.clamp(0.0, 1.0) * (1.0 - (-(self.days.len() as f64) / self.span_days * window).exp());
        let mut by_share: Vec<(u32, f32)> = shares.to_vec();
        by_share.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        by_share
            .into_iter()
            .filter(|(c, _)| names.get(*c as usize).is_some_and(|n| n != unico_model::habits::UNKNOWN_CATEGORY))
            .take(CATEGORY_CANDIDATES)
            .map(|(cat, share)| {
                let days = self.category_days.iter().find(|(c, _)| *c == cat).map_or(0, |(_, n)| *n);
                let rate = f64::from(days) / self.span_days;
                let r = f64::from(share) * n_categories;
                let name = &names[cat as usize];
                let reason = match days {
                    0 => format!("you used to buy {name}"),
                    1 => format!("you bought {name} lately"),
                    _ => format!("you shop for {name} about every {:.0} days", self.span_days / f64::from(days)),
                };
                CategoryCandidate {
                    category: cat,
                    p0: p_alive.clamp(0.0, 1.0) * (1.0 - (-rate * window).exp()),
                    affinity: (r / (1.0 + r)).clamp(0.02, 0.95) * comes,
                    reason,
                }
            })
            .collect()
    }

    /// For each spend reward (threshold, reward): the chance one of the window's trips
    /// reaches the threshold anyway; the chance one falls short by at most half of it (near
    /// enough to top up); and what such a trip would add to reach it. Both chances are
    /// weighed by P(alive): a customer who has left makes no trip.
    pub(crate) fn spend(&self, rewards: &[(i64, i64)], window: f64, p_alive: f64) -> Vec<SpendInput> {
        let alive = p_alive.clamp(0.0, 1.0);
        let n = self.days.len();
        if n == 0 {
            return vec![SpendInput::default(); rewards.len()];
        }
        let trips = n as f64 / self.span_days * window;
        let mut sorted = self.days.clone();
        sorted.sort_unstable();
        let median = sorted[n / 2];
        rewards
            .iter()
            .map(|&(min, _)| {
                let over = sorted.iter().filter(|d| **d >= min).count() as f64 / n as f64;
                let near: Vec<i64> = sorted.iter().copied().filter(|d| *d >= min / 2 && *d < min).collect();
                let near_share = near.len() as f64 / n as f64;
                let top_up = if near.is_empty() {
                    min as f64 / 4.0
                } else {
                    min as f64 - near.iter().sum::<i64>() as f64 / near.len() as f64
                };
                SpendInput {
                    p0: alive * (1.0 - (1.0 - over).powf(trips)),
                    reach: alive * (1.0 - (1.0 - near_share).powf(trips)),
                    top_up_cents: top_up,
                    reason: format!("your shopping usually comes to about {}", unico_offers::plan::euros(median)),
                }
            })
            .collect()
    }
}

/// Spread of the next purchase around the cycle (log-normal σ): a quartile is about a
/// quarter of a cycle early or late.
const CYCLE_SPREAD: f64 = 0.4;

/// P(the next purchase falls in `[from, to]` | it has not happened by `as_of`), with the
/// gap from the last purchase (`due_day − cycle`) log-normal around the cycle. An overdue
/// product keeps a high chance: a third of receipts carry no card, so a purchase the data
/// does not show is likelier than a habit dropped (measured in the simulator: treating
/// long-overdue products as probably abandoned cut Unico's share of the oracle's margin
/// from 67–77 % to 58–63 %).
pub fn due_in_window(cycle_days: f64, due_day: i32, as_of: i32, from: i32, to: i32) -> f64 {
    if cycle_days <= 0.0 {
        return 0.0;
    }
    let last = f64::from(due_day) - cycle_days;
    // P(gap <= d), for a purchase d days after the last one.
    let cdf = |day: f64| {
        let d = day - last;
        if d <= 0.0 {
            return 0.0;
        }
        let z = (d / cycle_days).ln() / CYCLE_SPREAD;
        0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2))
    };
    let survived = 1.0 - cdf(f64::from(as_of) + 0.5);
    if survived <= 1e-12 {
        return 1.0;
    }
    ((cdf(f64::from(to) + 0.5) - cdf(f64::from(from) - 0.5)) / survived).clamp(0.0, 1.0)
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::{Shopping, due_in_window};
    use unico_model::lines::LineRecord;

    /// A weekly shopper over 182 days: 26 trips of 40 € (two lines, categories 0 and 1),
    /// every fourth trip 70 €; category 2 bought once.
    fn weekly() -> Vec<LineRecord> {
        let mut out = Vec::new();
        for week in 0..26 {
            let day = 1000 + 7 * week;
            let total = if week % 4 == 0 { 7000 } else { 4000 };
            out.push(LineRecord { customer: 0, item: 0, day, net_cents: total / 2 });
            out.push(LineRecord { customer: 0, item: 1, day, net_cents: total / 2 });
        }
        out.push(LineRecord { customer: 0, item: 2, day: 1100, net_cents: 0 });
        out
    }

    #[test]
    fn spend_rewards_are_valued_from_the_shopping_days() {
        let shop = Shopping::of(&weekly(), &[0, 1, 2], 1000 - 1, 1000 + 7 * 25);
        // 60 € reached by 7 of the 26 trips; 100 € by none.
        let [sixty, hundred] = &shop.spend(&[(6000, 300), (10_000, 500)], 14.0, 1.0)[..] else { panic!() };
        // 26 trips in 176 days make 2.07 in a fortnight, each reaching 60 € 7 times in 26.
        let trips = 26.0 / 176.0 * 14.0;
        assert!((sixty.p0 - (1.0 - (1.0 - 7.0 / 26.0f64).powf(trips))).abs() < 1e-9, "{sixty:?}");
        // The 40 € trips are within half of 60 €: they top up by 20 €.
        assert!(sixty.reach > 0.9 && (sixty.top_up_cents - 2000.0).abs() < 1.0, "{sixty:?}");
        assert_eq!(hundred.p0, 0.0);
        assert!(hundred.reach > 0.0 && hundred.top_up_cents > 2000.0, "the 70 € trips are near 100 €");
        assert!(sixty.reason.contains("40.00"), "{}", sixty.reason);
        // Someone who has left makes no trip.
        let gone = shop.spend(&[(6000, 300)], 14.0, 0.0);
        assert_eq!((gone[0].p0, gone[0].reach), (0.0, 0.0));
    }

    #[test]
    fn categories_come_from_the_share_of_wallet_and_the_shopping_rate() {
        let shop = Shopping::of(&weekly(), &[0, 1, 2], 1000 - 1, 1000 + 7 * 25);
        let names = ["Coffee".to_string(), "Pasta".to_string(), "Wine".to_string()];
        // Coffee and pasta are half of the wallet each; wine nothing.
        let list = shop.categories(&[(0, 0.5), (1, 0.5), (2, 0.0)], 3.0, 14.0, 1.0, &names);
        assert_eq!(list.len(), 3);
        let (coffee, wine) = (&list[0], &list[2]);
        assert_eq!((coffee.category, wine.category), (0, 2));
        // Bought weekly: almost surely bought in a fortnight anyway.
        assert!(coffee.p0 > 0.8, "{coffee:?}");
        assert!(wine.p0 < coffee.p0 && wine.affinity < coffee.affinity, "{wine:?}");
        assert!(coffee.reason.contains("every 7 days"), "{}", coffee.reason);
    }

    #[test]
    fn the_chance_of_a_due_purchase_in_the_window() {
        // Bought every 14 days, last on day 0: due day 14. Window days 12..=18, known to day 10.
        let due = due_in_window(14.0, 14, 10, 12, 18);
        assert!(due > 0.5 && due <= 1.0, "{due}");
        // Just bought (due on day 40): almost no chance in the same window.
        assert!(due_in_window(14.0, 40, 30, 12, 18) < 0.01);
        // A window after the due date catches less than one around it.
        assert!(due_in_window(14.0, 14, 10, 26, 32) < due);
        // Long overdue: a purchase is taken as imminent (likely made without the card).
        let late = due_in_window(14.0, 14, 60, 61, 67);
        assert!(late > due && late <= 1.0, "{late}");
        // A wider window never has a lower chance.
        assert!(due_in_window(14.0, 14, 10, 12, 30) >= due);
    }
}
