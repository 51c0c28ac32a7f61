//! One-to-one offers.
//!
//! The retailer writes a [`policy`] (budget, margins, exclusions, who is in); the model's
//! profiles, habits and recommendations give each customer [`Candidate`]s; the [`response`]
//! model says, for every candidate and discount depth, how likely a redemption is and what
//! it adds net of the discount given on purchases that would have happened anyway;
//! [`assign`] picks every customer's offers under all budgets at once; [`holdout`] keeps a
//! stratified random share of customers out as the measure of uplift; [`code`] gives every
//! offer an unguessable code.
//!
//! All of it is per customer once the budget multipliers are known, so a campaign over
//! millions of customers runs partition by partition.

pub mod assign;
pub mod code;
pub mod holdout;
pub mod plan;
pub mod policy;
pub mod response;
pub mod stream;
pub mod till;

pub use assign::{Assignment, Candidate, Mechanic, Option_, Target};
pub use policy::{Policy, PolicyError, Product};

/// A campaign's id: its name and first day ("January fortnight 2026-01-05"). The store,
/// the tills, `unico learn` and `unico measure --campaign` all name a campaign so.
pub fn campaign_id(name: &str, valid_from: impl std::fmt::Display) -> String {
    format!("{name} {valid_from}")
}

impl Policy {
    /// The id of the campaign this policy plans.
    pub fn campaign_id(&self) -> String {
        campaign_id(&self.name, self.valid_from)
    }
}
