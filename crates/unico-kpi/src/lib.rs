//! Unico's KPIs, goals and campaign measurement.
//!
//! Read in data-flow order: [`cube`] folds the lake's receipt lines into sales and customer
//! counts per period and group in one streaming pass; [`kpis`] defines every KPI once over
//! those measures and what the operational store adds (offers, surveys, measured uplift);
//! [`snapshot`] reads the model's view (lapsed customers, CLV, segments); [`measure`] compares
//! each campaign's treated customers with its holdout using [`stats`] (CUPED, the always-valid
//! mSPRT); [`goals`] projects a KPI's daily series to a goal's deadline.
#![warn(missing_docs)]

pub mod cube;
pub mod days;
mod error;
pub mod goals;
pub mod kpis;
pub mod measure;
pub mod snapshot;
pub mod stats;

pub use error::{Error, ErrorKind};
