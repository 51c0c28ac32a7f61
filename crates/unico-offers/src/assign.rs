//! Choosing every customer's offers under all budgets at once.
//!
//! Each candidate (a customer and a product) has a few options (the depths the policy
//! allows on it), each with an objective value and costs. The problem — maximise the total
//! value with at most `k` offers per customer, one option per candidate, under the total
//! budget, the worst-case ceiling and every category, brand or supplier budget — is a
//! multi-constraint knapsack. Lagrangian relaxation prices each budget with a multiplier
//! μ: given the μs, every customer independently takes their `k` options of highest
//! `value − Σ μ · cost` (when positive). The μs are found by bisection, budget by budget,
//! in a few rounds, each the smallest price at which its budget holds. A last repair drops
//! the options with the least value per cent of any budget still exceeded, so the result
//! never exceeds a budget whatever the multipliers did.
//!
//! Per customer the work is independent once the μs are known: it runs in parallel chunks
//! here and could run partition by partition on a distributed engine with the μs
//! broadcast.

use crate::stream::{Combos, Diversifier, Part, Parts, Streaming};

/// What an offer is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// A product, by index into the campaign's product list.
    Product(u32),
    /// One item of a category, by index into the campaign's category list.
    Category(u32),
    /// The whole basket (a spend reward).
    Basket,
}

impl Target {
    /// One number per target, for comparing offer sets.
    pub fn id(self) -> u64 {
        match self {
            Target::Product(p) => u64::from(p),
            Target::Category(c) => (1 << 32) | u64::from(c),
            Target::Basket => 2 << 32,
        }
    }
}

/// How an offer gives its discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanic {
    /// Off one unit (percent or amount; on a category, one item of it).
    Unit,
    /// `buy` units for the price of `pay`, once.
    MultiBuy {
        /// Units to buy.
        buy: u32,
        /// Units paid.
        pay: u32,
    },
    /// The discount off a basket of at least this much, once.
    SpendReward {
        /// Least basket, cents.
        min_spend_cents: i64,
    },
}

impl Mechanic {
    /// Name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanic::Unit => "unit",
            Mechanic::MultiBuy { .. } => "multi_buy",
            Mechanic::SpendReward { .. } => "spend_reward",
        }
    }
}

/// Why a candidate was proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// The customer is due to buy it again.
    Due,
    /// They buy it regularly (not due yet).
    Usual,
    /// They have not bought it; customers like them do.
    CrossSell,
    /// Their last purchases are slowing: a reason to come back.
    WinBack,
    /// A supplier pushes it for trial.
    Trial,
    /// One of the customer's categories (an offer on any item of it).
    Category,
    /// Their whole shopping (a spend reward).
    Spend,
}

impl Kind {
    /// Name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Due => "due",
            Kind::Usual => "usual",
            Kind::CrossSell => "cross_sell",
            Kind::WinBack => "win_back",
            Kind::Trial => "trial",
            Kind::Category => "category",
            Kind::Spend => "spend",
        }
    }
}

/// One customer and one product worth considering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The customer, by index into the campaign's customer list.
    pub customer: u32,
    /// What the offer would be on.
    pub target: Target,
    /// Why.
    pub kind: Kind,
    /// Probability they buy it in the window anyway.
    pub p0: f64,
    /// Their affinity for it.
    pub affinity: f64,
}

/// One way to make an offer on a candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Option_ {
    /// Index of the candidate.
    pub candidate: u32,
    /// Discount on one unit, cents.
    pub discount_cents: i64,
    /// Percent off (0 for an amount off, a multi-buy or a spend reward).
    pub percent: u32,
    /// How the discount is given.
    pub mechanic: Mechanic,
    /// Objective value, cents (expected incremental margin, revenue or retention value).
    pub value: f64,
    /// Expected cost, cents.
    pub expected_cost: f64,
    /// Cost if redeemed, cents (each offer is good for one unit, once).
    pub worst_cost: i64,
    /// Expected incremental margin, cents (reported whatever the objective).
    pub incremental_margin: f64,
    /// Probability of redemption.
    pub p_redeem: f64,
    /// Bit `j` set: the option's product is under budget limit `j`.
    pub limits: u64,
    /// Whether it counts against the total budget (not supplier funded).
    pub in_total: bool,
}

/// The budgets an assignment must respect.
#[derive(Debug, Clone, PartialEq)]
pub struct Budgets {
    /// Count costs at their expected value (else at the worst case).
    pub expected_basis: bool,
    /// Total budget, cents.
    pub total: f64,
    /// Worst-case ceiling on the total (with the expected basis).
    pub worst_case: Option<f64>,
    /// Budgets of the limits, cents, on the basis.
    pub limits: Vec<f64>,
    /// Most offers per customer.
    pub per_customer: usize,
}

/// The chosen options and what they use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assignment {
    /// Indices of the chosen options, by customer then rank.
    pub chosen: Vec<u32>,
    /// Use of each constraint: total, worst-case ceiling, then each limit.
    pub usage: Vec<f64>,
    /// The multipliers found, same order.
    pub multipliers: Vec<f64>,
    /// Sum of the chosen options' values.
    pub value: f64,
    /// The Lagrangian dual at the multipliers found: no assignment can do better.
    pub upper_bound: f64,
    /// Options dropped by the final repair.
    pub repaired: usize,
    /// Options added by the final fill.
    pub filled: usize,
}

/// The usage vector's layout: 0 total, 1 worst-case ceiling, 2.. limits.
pub(crate) fn usage_of(o: &Option_, b: &Budgets, usage: &mut [f64]) {
    let c = if b.expected_basis { o.expected_cost } else { o.worst_cost as f64 };
    if o.in_total {
        usage[0] += c;
        usage[1] += o.worst_cost as f64;
    }
    let mut bits = o.limits;
    while bits != 0 {
        let j = bits.trailing_zeros() as usize;
        usage[2 + j] += c;
        bits &= bits - 1;
    }
}

pub(crate) fn capacities(b: &Budgets) -> Vec<f64> {
    let mut c = vec![b.total, b.worst_case.unwrap_or(f64::INFINITY)];
    c.extend(&b.limits);
    c
}

/// The problem: candidates grouped by customer (`customer_starts[i]..customer_starts[i+1]`
/// are customer i's candidates) and each candidate's options (`option_starts` likewise).
pub struct Problem<'a> {
    /// Start of each customer's candidates, plus the end.
    pub customer_starts: &'a [u32],
    /// Start of each candidate's options, plus the end.
    pub option_starts: &'a [u32],
    /// All options.
    pub options: &'a [Option_],
    /// The budgets.
    pub budgets: &'a Budgets,
    /// Most offers for each customer when fewer than `budgets.per_customer` (a frequency
    /// cap across campaigns); empty: `budgets.per_customer` for everyone.
    pub caps: &'a [u8],
}

impl Problem<'_> {
    fn customers(&self) -> usize {
        self.customer_starts.len().saturating_sub(1)
    }

    /// Most offers customer `c` may get.
    fn cap(&self, c: usize) -> usize {
        self.caps.get(c).map_or(self.budgets.per_customer, |k| self.budgets.per_customer.min(usize::from(*k)))
    }

    /// Solves the problem (in memory, one part: see [`crate::stream`]).
    pub fn solve(&self) -> Assignment {
        let mut combos = Combos::default();
        for o in self.options {
            combos.id(o.limits, o.in_total);
        }
        let n = self.customers();
        let caps: Vec<u8> = (0..n).map(|c| self.cap(c).min(usize::from(u8::MAX)) as u8).collect();
        let part = Part::new(
            vec![0, n as u32],
            self.customer_starts.to_vec(),
            self.option_starts.to_vec(),
            caps,
            self.options,
            self.budgets,
            &combos,
            false,
        )
        .expect("worst cases and budget combinations a part holds");
        let mut parts = Parts::new(self.budgets.clone(), &combos, Streaming::in_memory());
        parts.push(part).expect("a part in memory");
        let (mut chosen, mut a) = parts.solve(&|_| {}).expect("parts in memory");
        a.chosen = chosen.pop().unwrap_or_default();
        a
    }

    /// One is one (see [`Diversifier`]) over the problem's customers in order, only those
    /// `consider` accepts; `key` names what makes two offers the same (product and
    /// discount). Returns how many customers got a set of their own.
    pub fn diversify(
        &self,
        a: &mut Assignment,
        key: impl Fn(&Option_) -> (u64, i64),
        consider: impl Fn(usize) -> bool,
        max_loss: f64,
    ) -> usize {
        let n = self.customers();
        let mut by_customer: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut customer_of = vec![0u32; self.option_starts.len().saturating_sub(1)];
        for c in 0..n {
            for cand in self.customer_starts[c]..self.customer_starts[c + 1] {
                customer_of[cand as usize] = c as u32;
            }
        }
        for &o in &a.chosen {
            by_customer[customer_of[self.options[o as usize].candidate as usize] as usize].push(o);
        }
        let mut d = Diversifier::new(self.budgets, a.usage.clone(), max_loss);
        for (c, set) in by_customer.iter_mut().enumerate() {
            d.customer(
                self.options,
                self.option_starts,
                self.customer_starts[c]..self.customer_starts[c + 1],
                self.budgets,
                self.cap(c),
                set,
                &key,
                consider(c),
            );
        }
        if d.changed > 0 {
            a.chosen = by_customer
                .into_iter()
                .flat_map(|mut set| {
                    set.sort_by(|x, y| self.options[*y as usize].value.total_cmp(&self.options[*x as usize].value));
                    set
                })
                .collect();
            a.usage = d.usage;
            a.value -= d.loss;
        }
        d.changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(candidate: u32, value: f64, cost: f64, limits: u64) -> Option_ {
        Option_ {
            candidate,
            discount_cents: cost as i64,
            percent: 10,
            mechanic: Mechanic::Unit,
            value,
            expected_cost: cost,
            worst_cost: cost as i64,
            incremental_margin: value,
            p_redeem: 1.0,
            limits,
            in_total: true,
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// On instances small enough to enumerate: the assignment is feasible, never better
        /// than the true optimum, and the optimum never above the reported upper bound.
        #[test]
        fn bounded_by_the_optimum_and_the_dual(
            values in prop::collection::vec((0.0f64..50.0, 1.0f64..20.0, 0u64..2), 8),
            total in 5.0f64..60.0,
            limit in 0.0f64..30.0,
            k in 1usize..3,
        ) {
            // 4 customers × 1 candidate × 2 options... laid out as 4 customers, 2 candidates
            // each, 1 option each.
            let options: Vec<Option_> =
                values.iter().enumerate().map(|(i, (v, c, l))| opt(i as u32, *v, *c, *l)).collect();
            let budgets = Budgets { expected_basis: true, total, worst_case: None, limits: vec![limit], per_customer: k };
            let starts: Vec<u32> = (0..=8).collect();
            let p = Problem {
                customer_starts: &[0, 2, 4, 6, 8],
                option_starts: &starts,
                options: &options,
                budgets: &budgets,
                caps: &[],
            };
            let a = p.solve();
            let cost = |set: &[usize]| -> (f64, f64) {
                set.iter().fold((0.0, 0.0), |(t, l), i| {
                    let o = &options[*i];
                    (t + o.expected_cost, l + if o.limits & 1 == 1 { o.expected_cost } else { 0.0 })
                })
            };
            let chosen: Vec<usize> = a.chosen.iter().map(|o| *o as usize).collect();
            let (t, l) = cost(&chosen);
            prop_assert!(t <= total + 1e-9 && l <= limit + 1e-9);
            let mut best = 0.0f64;
            for mask in 0u32..256 {
                let set: Vec<usize> = (0..8).filter(|i| mask & (1 << i) != 0).collect();
                if (0..4).any(|c| set.iter().filter(|i| **i / 2 == c).count() > k) {
                    continue;
                }
                let (t, l) = cost(&set);
                if t <= total && l <= limit {
                    best = best.max(set.iter().map(|i| options[*i].value).sum());
                }
            }
            prop_assert!(a.value <= best + 1e-9, "{} > optimum {best}", a.value);
            prop_assert!(best <= a.upper_bound + 1e-6, "optimum {best} > bound {}", a.upper_bound);
        }
    }

    #[test]
    fn a_tight_budget_goes_to_the_best_value_per_cent() {
        // Three customers, one candidate each, one option each: values 30, 20, 10 for a
        // cost of 10 each; budget 20 → the first two.
        let options = [opt(0, 30.0, 10.0, 0), opt(1, 20.0, 10.0, 0), opt(2, 10.0, 10.0, 0)];
        let budgets = Budgets { expected_basis: true, total: 20.0, worst_case: None, limits: vec![], per_customer: 1 };
        let p = Problem {
            customer_starts: &[0, 1, 2, 3],
            option_starts: &[0, 1, 2, 3],
            options: &options,
            budgets: &budgets,
            caps: &[],
        };
        let a = p.solve();
        assert_eq!(a.chosen, vec![0, 1]);
        assert!(a.usage[0] <= 20.0);
    }

    #[test]
    fn per_customer_cap_and_one_option_per_candidate() {
        // One customer, three candidates with two depths each; k = 2, ample budget.
        let options = [
            opt(0, 5.0, 1.0, 0),
            opt(0, 6.0, 2.0, 0),
            opt(1, 9.0, 1.0, 0),
            opt(1, 1.0, 1.0, 0),
            opt(2, 2.0, 1.0, 0),
            opt(2, -1.0, 1.0, 0),
        ];
        let budgets = Budgets { expected_basis: true, total: 100.0, worst_case: None, limits: vec![], per_customer: 2 };
        let p = Problem {
            customer_starts: &[0, 3],
            option_starts: &[0, 2, 4, 6],
            options: &options,
            budgets: &budgets,
            caps: &[],
        };
        let a = p.solve();
        assert_eq!(a.chosen, vec![2, 1], "best option of the two best candidates, in order of value");
    }

    #[test]
    fn a_limit_binds_inside_the_total() {
        // Category limit (bit 0) of 10 on options worth the most.
        let options = [opt(0, 50.0, 10.0, 1), opt(1, 40.0, 10.0, 1), opt(2, 10.0, 10.0, 0), opt(3, 9.0, 10.0, 0)];
        let budgets =
            Budgets { expected_basis: true, total: 30.0, worst_case: None, limits: vec![10.0], per_customer: 1 };
        let p = Problem {
            customer_starts: &[0, 1, 2, 3, 4],
            option_starts: &[0, 1, 2, 3, 4],
            options: &options,
            budgets: &budgets,
            caps: &[],
        };
        let a = p.solve();
        let mut chosen = a.chosen.clone();
        chosen.sort();
        assert_eq!(chosen, vec![0, 2, 3]);
        assert!(a.usage[2] <= 10.0 && a.usage[0] <= 30.0);
    }

    #[test]
    fn repeated_sets_become_personal_at_a_small_loss_within_the_budgets() {
        // Three customers, the same two products each (candidates 2c and 2c + 1), one offer
        // each: product A (value 10) or B (value 9), at cost 5 (total budget 15).
        let mut options = Vec::new();
        for c in 0..3u32 {
            let mut a = opt(2 * c, 10.0, 5.0, 0);
            a.discount_cents = 50;
            let mut b = opt(2 * c + 1, 9.0, 5.0, 0);
            b.discount_cents = 50;
            options.push(a);
            options.push(b);
        }
        let key = |o: &Option_| (u64::from(o.candidate % 2), o.discount_cents); // the product
        let budgets = Budgets { expected_basis: true, total: 15.0, worst_case: None, limits: vec![], per_customer: 1 };
        let p = Problem {
            customer_starts: &[0, 2, 4, 6],
            option_starts: &[0, 1, 2, 3, 4, 5, 6],
            options: &options,
            budgets: &budgets,
            caps: &[],
        };
        let mut a = p.solve();
        assert_eq!(a.chosen, vec![0, 2, 4], "everyone gets A");
        // Giving up 10 % of a customer's value is not enough to switch to B (a 10 % loss is
        // allowed, so B qualifies once); a third distinct set does not exist.
        let changed = p.diversify(&mut a, key, |_| true, 0.1);
        assert_eq!(changed, 1);
        assert_eq!(a.chosen, vec![0, 3, 4]);
        assert!((a.value - 29.0).abs() < 1e-9 && a.usage[0] <= 15.0);
        // No loss allowed: nothing changes.
        let mut b = p.solve();
        assert_eq!(p.diversify(&mut b, key, |_| true, 0.0), 0);
        // Customers not considered (no profiling consent) keep their sets.
        let mut c = p.solve();
        assert_eq!(p.diversify(&mut c, key, |_| false, 0.1), 0);
    }

    #[test]
    fn an_added_offer_makes_a_set_personal_only_within_the_budget() {
        // Two customers with room for two offers, only A chosen (B is just under water at
        // the budget's price); adding B is a gain but needs budget.
        let mut options = Vec::new();
        for c in 0..2u32 {
            options.push(opt(2 * c, 10.0, 5.0, 0));
            options.push(opt(2 * c + 1, 1.0, 5.0, 0));
        }
        let key = |o: &Option_| (u64::from(o.candidate % 2), 0);
        for (total, expect) in [(10.0, 0), (15.0, 1)] {
            let budgets = Budgets { expected_basis: true, total, worst_case: None, limits: vec![], per_customer: 2 };
            let p = Problem {
                customer_starts: &[0, 2, 4],
                option_starts: &[0, 1, 2, 3, 4],
                options: &options,
                budgets: &budgets,
                caps: &[],
            };
            let mut a = Assignment { chosen: vec![0, 2], usage: vec![10.0, 10.0], ..Default::default() };
            assert_eq!(p.diversify(&mut a, key, |_| true, 0.1), expect, "budget {total}");
            assert!(a.usage[0] <= total);
        }
    }
}
