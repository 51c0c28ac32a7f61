//! Unico's domain types, shared by every other crate.
//!
//! Everything here is a value that can only be built through a constructor that rejects
//! bad input ("parse, don't validate"): [`Money`] is integer cents parsed from the way a
//! retailer writes amounts (decimal comma, thousands separators) with commercial rounding,
//! [`CustomerKey`] is the pseudonymous key that replaces a card number in the lake, and
//! [`Channel`] is where a purchase happened. Nothing in this crate prints, exits or reads the
//! environment.
#![warn(missing_docs)]

mod channel;
pub mod day;
pub mod fs;
mod key;
mod money;

pub use channel::{Channel, ChannelError};
pub use key::{CustomerKey, Pseudonymiser, SECRET_LEN};
pub use money::{AmountError, DecimalFormat, Money, parse_scaled, scaled_from_f64};
