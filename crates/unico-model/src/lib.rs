//! Unico's behavioural model of each single customer.
//!
//! Read in data-flow order: [`special`] and [`optimize`] are the numerical ground;
//! [`clv`] holds the buy-till-you-die models (BG/NBD, Pareto/NBD, Gamma-Gamma) and lifetime
//! value; [`rfm`] scores recency, frequency and monetary value into segments; [`features`]
//! streams the lake into per-customer states and [`build`] turns them into profiles. Every time the
//! models read or return carries its [`clv::TimeUnit`].
#![warn(missing_docs)]

pub mod build;
pub mod clv;
mod error;
pub mod features;
pub mod habits;
pub mod lines;
pub mod optimize;
pub mod passes;
pub mod profiles;
pub mod recommend;
pub mod redemption;
pub mod rfm;
pub mod special;

pub use error::{Error, ErrorKind};
