//! A synthetic retail chain with planted ground truth: Unico's demo data and its judge.
//!
//! Real receipts never say what a shopper *would* have done, nor whether a lapsed card
//! belongs to someone who left for good. The simulator plants those facts: each simulated
//! person has a visit rate drawn from a gamma distribution (heterogeneity as in NBD models),
//! a probability of lapsing for good after each visit (beta distributed, as in BG/NBD),
//! category preferences, staples bought on a personal cycle, a preferred store and channel,
//! a price sensitivity, and a probability of forgetting the card; the chain has weekly and
//! yearly seasonality, non-members who never show a card, and people registered twice with
//! two cards and different spellings. Everything planted is written to `truth/`. With
//! [`Shoppers::Rich`] the people also have household tastes, brand loyalty, substitutes and
//! complements, seasonal and new products and the chain's mass promotions ([`rich`]).
//!
//! Read in this order: [`world`](World) (the chain and its people), `shop` (one person's
//! visits and baskets, and how they react to offers), [`generate`] (files), [`replay`]
//! (a period with offers next to the same period without them).
//!
//! Generation streams person by person, so memory does not grow with the number of lines,
//! and the same seed gives the same files byte for byte. This crate never depends on the
//! model or the offer engine: it is the judge of both.
#![warn(missing_docs)]

mod catalogue;
mod chain;
pub mod history;
mod people;
mod replay;
pub mod rich;
mod shop;
mod world;

pub use chain::{GenerateSummary, RECEIPTS_HEADER, generate, generate_into, write_receipt_csv};
pub use replay::{OfferOutcome, PersonOutcome, Replay, margin as receipt_margin, replay};
pub use shop::{MULTI_BUY_REACH, Offer, OfferValue, RESPONSE_STEEPNESS, SimLine, SimReceipt, Target, moved_share};
pub use world::{ChainConfig, Shoppers, World};
