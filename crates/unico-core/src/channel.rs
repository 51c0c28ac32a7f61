//! Where a purchase happened: in a store, on the web shop, or in the app.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The sales channel of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A till in a physical store (the default when a source does not say).
    #[default]
    Store,
    /// The web shop.
    Ecommerce,
    /// The mobile app.
    App,
}

/// The text names no known channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel {0:?} (expected store, ecommerce or app)")]
pub struct ChannelError(pub String);

impl Channel {
    /// The canonical lower-case name written to the lake.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Store => "store",
            Channel::Ecommerce => "ecommerce",
            Channel::App => "app",
        }
    }

    /// Parses a channel name, case-insensitively, accepting the synonyms POS and e-commerce
    /// exports commonly use (`pos`, `shop`, `web`, `online`, `e-commerce`, `mobile`).
    pub fn parse(text: &str) -> Result<Self, ChannelError> {
        let t = text.trim();
        let eq = |s: &str| t.eq_ignore_ascii_case(s);
        if eq("store") || eq("pos") || eq("shop") || eq("instore") || eq("in-store") {
            Ok(Channel::Store)
        } else if eq("ecommerce") || eq("e-commerce") || eq("web") || eq("online") || eq("eshop") {
            Ok(Channel::Ecommerce)
        } else if eq("app") || eq("mobile") {
            Ok(Channel::App)
        } else {
            Err(ChannelError(t.to_string()))
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_synonyms() {
        assert_eq!(Channel::parse("STORE").unwrap(), Channel::Store);
        assert_eq!(Channel::parse(" pos ").unwrap(), Channel::Store);
        assert_eq!(Channel::parse("Web").unwrap(), Channel::Ecommerce);
        assert_eq!(Channel::parse("e-commerce").unwrap(), Channel::Ecommerce);
        assert_eq!(Channel::parse("app").unwrap(), Channel::App);
        assert!(Channel::parse("fax").is_err());
    }
}
