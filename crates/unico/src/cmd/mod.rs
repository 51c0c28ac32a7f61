//! One module per family of verbs: its arguments, the call into the service layer and the
//! printing of the result.

pub mod app;
pub mod customers;
pub mod import;
pub mod kpi;
pub mod model;
pub mod plan;
pub mod serve;
pub mod simulate;

/// Prints a result as pretty JSON, fields in their order.
pub fn print_json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).expect("results serialise"));
}

/// A result as pretty JSON, keys in alphabetical order.
pub fn sorted_json<T: serde::Serialize>(v: &T) -> String {
    let value = serde_json::to_value(v).expect("results serialise");
    serde_json::to_string_pretty(&value).expect("values serialise")
}

/// An amount of cents as the chain's money.
pub fn money(cents: i64) -> String {
    unico_core::Money::from_cents(cents).to_string()
}
