//! RFM: recency, frequency and monetary value scored 1..=n by quantiles, and named segments.
//!
//! Scores are rank-based: the values are sorted, the i-th of N gets `1 + floor(i·n/N)` and
//! tied values all take the score of the first of them, so equal behaviour never gets
//! different scores. Recency scores are reversed (the most recent buyers score n) unless
//! the chain sells durable goods, where an older purchase means a *closer* next need and
//! recency keeps its natural order ([`RecencyDirection::OlderIsBetter`]).

use serde::{Deserialize, Serialize};

/// How recency is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RecencyDirection {
    /// Consumables: the more recent the last purchase, the higher the score.
    #[default]
    RecentIsBetter,
    /// Durable goods: the older the last purchase, the closer the next need.
    OlderIsBetter,
}

/// RFM settings (the `[model.rfm]` table of `unico.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RfmSettings {
    /// Number of score levels (5 = quintiles).
    pub bins: u8,
    /// How recency is scored.
    pub recency: RecencyDirection,
}

impl Default for RfmSettings {
    fn default() -> Self {
        RfmSettings { bins: 5, recency: RecencyDirection::RecentIsBetter }
    }
}

/// One customer's raw RFM values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmValues {
    /// Days since the last purchase, at the as-of date.
    pub recency_days: i32,
    /// Purchase days in the window.
    pub frequency: u32,
    /// Net spend in the window, integer cents.
    pub monetary_cents: i64,
}

/// One customer's scores, each in `1..=bins`, and segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RfmScore {
    /// Recency score.
    pub r: u8,
    /// Frequency score.
    pub f: u8,
    /// Monetary score.
    pub m: u8,
    /// Named segment.
    pub segment: Segment,
}

/// Named RFM segments, in the words a CRM analyst uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// Bought recently, often, and spend the most.
    Champions,
    /// Buy often and spend well; recent enough.
    Loyal,
    /// Recent buyers with average frequency: could become loyal.
    PotentialLoyalists,
    /// Bought recently for the first time(s).
    New,
    /// Recent, but low frequency and spend.
    Promising,
    /// Average on all three: slipping towards at risk.
    NeedAttention,
    /// Used to buy often and spend well, not recently.
    AtRisk,
    /// Were among the best, now gone quiet the longest.
    CannotLose,
    /// Low recency, low frequency.
    Hibernating,
    /// Lowest on everything.
    Lost,
}

impl Segment {
    /// The segment's name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            Segment::Champions => "champions",
            Segment::Loyal => "loyal",
            Segment::PotentialLoyalists => "potential_loyalists",
            Segment::New => "new",
            Segment::Promising => "promising",
            Segment::NeedAttention => "need_attention",
            Segment::AtRisk => "at_risk",
            Segment::CannotLose => "cannot_lose",
            Segment::Hibernating => "hibernating",
            Segment::Lost => "lost",
        }
    }

    /// Segment of scores on a `bins`-level scale (rules written for 5 levels, rescaled).
    pub fn of(r: u8, f: u8, m: u8, bins: u8) -> Segment {
        let scale = |v: u8| -> f64 { 1.0 + f64::from(v - 1) * 4.0 / f64::from(bins.max(2) - 1) };
        let (r, f, m) = (scale(r), scale(f), scale(m));
        let fm = (f + m) / 2.0;
        if r >= 4.0 && fm >= 4.0 {
            Segment::Champions
        } else if r >= 3.0 && fm >= 4.0 {
            Segment::Loyal
        } else if r >= 4.0 && f <= 1.0 {
            Segment::New
        } else if r >= 4.0 && fm >= 2.5 {
            Segment::PotentialLoyalists
        } else if r >= 4.0 {
            Segment::Promising
        } else if r >= 3.0 && fm >= 2.5 {
            Segment::NeedAttention
        } else if r <= 1.0 && fm >= 4.5 {
            Segment::CannotLose
        } else if fm >= 3.0 {
            Segment::AtRisk
        } else if r <= 1.0 && fm <= 1.5 {
            Segment::Lost
        } else {
            Segment::Hibernating
        }
    }
}

/// Rank-based quantile scores of `values` on `1..=bins`; higher values score higher; ties
/// share the score of their first rank.
pub fn quantile_scores<T: PartialOrd + Copy>(values: &[T], bins: u8) -> Vec<u8> {
    let n = values.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].partial_cmp(&values[b]).unwrap_or(std::cmp::Ordering::Equal));
    let mut scores = vec![0u8; n];
    let mut run_score = 1u8;
    for (rank, &i) in order.iter().enumerate() {
        let tied = rank > 0 && values[i].partial_cmp(&values[order[rank - 1]]) == Some(std::cmp::Ordering::Equal);
        if !tied {
            run_score = score_of_rank(rank as u64, n as u64, bins);
        }
        scores[i] = run_score;
    }
    scores
}

/// The score of a value with `below` of the `n` values strictly below it: what
/// [`quantile_scores`] gives, for an engine that counts the ranks itself (a window over the
/// distinct values and their counts).
pub fn score_of_rank(below: u64, n: u64, bins: u8) -> u8 {
    1 + ((below * u64::from(bins)) / n.max(1)) as u8
}

/// Scores every customer and names their segment.
pub fn score(values: &[RfmValues], settings: &RfmSettings) -> Vec<RfmScore> {
    let bins = settings.bins.max(2);
    let recency: Vec<i64> = values
        .iter()
        .map(|v| match settings.recency {
            // Fewer days since the last purchase is better: negate so "higher scores higher".
            RecencyDirection::RecentIsBetter => -i64::from(v.recency_days),
            RecencyDirection::OlderIsBetter => i64::from(v.recency_days),
        })
        .collect();
    let r = quantile_scores(&recency, bins);
    let f = quantile_scores(&values.iter().map(|v| v.frequency).collect::<Vec<_>>(), bins);
    let m = quantile_scores(&values.iter().map(|v| v.monetary_cents).collect::<Vec<_>>(), bins);
    (0..values.len())
        .map(|i| RfmScore { r: r[i], f: f[i], m: m[i], segment: Segment::of(r[i], f[i], m[i], bins) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn distinct_values_fill_equal_quintiles() {
        let v: Vec<i64> = (0..100).collect();
        let s = quantile_scores(&v, 5);
        for q in 1..=5u8 {
            assert_eq!(s.iter().filter(|&&x| x == q).count(), 20);
        }
        assert_eq!(s[0], 1);
        assert_eq!(s[99], 5);
    }

    #[test]
    fn segments_read_as_an_analyst_expects() {
        assert_eq!(Segment::of(5, 5, 5, 5), Segment::Champions);
        assert_eq!(Segment::of(1, 1, 1, 5), Segment::Lost);
        assert_eq!(Segment::of(1, 5, 5, 5), Segment::CannotLose);
        assert_eq!(Segment::of(2, 4, 4, 5), Segment::AtRisk);
        assert_eq!(Segment::of(5, 1, 1, 5), Segment::New);
        assert_eq!(Segment::of(3, 5, 4, 5), Segment::Loyal);
        assert_eq!(Segment::of(2, 2, 1, 5), Segment::Hibernating);
    }

    #[test]
    fn durable_goods_reverse_recency() {
        let v = [
            RfmValues { recency_days: 3, frequency: 4, monetary_cents: 100 },
            RfmValues { recency_days: 300, frequency: 4, monetary_cents: 100 },
        ];
        let consumable = score(&v, &RfmSettings { bins: 2, recency: RecencyDirection::RecentIsBetter });
        let durable = score(&v, &RfmSettings { bins: 2, recency: RecencyDirection::OlderIsBetter });
        assert!(consumable[0].r > consumable[1].r);
        assert!(durable[0].r < durable[1].r);
    }

    proptest! {
        #[test]
        fn scores_are_in_range_monotone_and_tie_consistent(values in prop::collection::vec(-1000i64..1000, 1..300), bins in 2u8..10) {
            let s = quantile_scores(&values, bins);
            for i in 0..values.len() {
                prop_assert!(s[i] >= 1 && s[i] <= bins);
                for j in 0..values.len() {
                    if values[i] < values[j] { prop_assert!(s[i] <= s[j]); }
                    if values[i] == values[j] { prop_assert_eq!(s[i], s[j]); }
                }
            }
            // The lowest value scores 1; no level holds much more than its share of distinct ranks.
            let min = values.iter().min().unwrap();
            prop_assert_eq!(s[values.iter().position(|v| v == min).unwrap()], 1);
        }

        #[test]
        fn better_behaviour_never_scores_lower(
            raw in prop::collection::vec((0i32..400, 1u32..60, 0i64..1_000_000), 2..200),
        ) {
            let values: Vec<RfmValues> = raw.iter().map(|&(r, f, m)| RfmValues { recency_days: r, frequency: f, monetary_cents: m }).collect();
            let s = score(&values, &RfmSettings::default());
            for i in 0..values.len() {
                for j in 0..values.len() {
                    if values[i].recency_days < values[j].recency_days { prop_assert!(s[i].r >= s[j].r); }
                    if values[i].frequency > values[j].frequency { prop_assert!(s[i].f >= s[j].f); }
                    if values[i].monetary_cents > values[j].monetary_cents { prop_assert!(s[i].m >= s[j].m); }
                }
            }
        }
    }
}
