//! The pseudonymous customer key: what the lake knows a customer by instead of a card number.
//!
//! The key is a keyed HMAC-SHA-256 of the card id, truncated to 128 bits and written as 32
//! hex characters. The same card always gives the same key (so the lake joins across years
//! of imports), nobody without the data directory's secret can compute it from a card number,
//! and the analytics side never needs the card number at all.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

/// Length in bytes of the secret behind [`Pseudonymiser`].
pub const SECRET_LEN: usize = 32;

/// A pseudonymous customer key (32 lower-case hex characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct CustomerKey([u8; 16]);

impl CustomerKey {
    /// The key as 32 lower-case hex characters, as written in the lake.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 32 hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(CustomerKey(out))
    }
}

impl fmt::Display for CustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl From<CustomerKey> for String {
    fn from(k: CustomerKey) -> String {
        k.to_hex()
    }
}

impl TryFrom<String> for CustomerKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        CustomerKey::parse(&s).ok_or_else(|| format!("not a customer key: {s:?}"))
    }
}

/// Turns card ids into [`CustomerKey`]s with the data directory's secret.
#[derive(Clone)]
pub struct Pseudonymiser {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymiser { secret: <redacted> }")
    }
}

impl Pseudonymiser {
    /// A pseudonymiser keyed with `secret`.
    pub fn new(secret: &[u8; SECRET_LEN]) -> Self {
        Pseudonymiser { mac: Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length") }
    }

    /// The key of a card id. Surrounding white space is ignored, so `" 0042 "` and `"0042"`
    /// are the same card; leading zeros are significant (card numbers are identifiers).
    pub fn key(&self, card_id: &str) -> CustomerKey {
        let mut mac = self.mac.clone();
        mac.update(card_id.trim().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        CustomerKey(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_per_secret_and_different_across_secrets() {
        let a = Pseudonymiser::new(&[1; SECRET_LEN]);
        let b = Pseudonymiser::new(&[2; SECRET_LEN]);
        assert_eq!(a.key("0042"), a.key(" 0042 "));
        assert_ne!(a.key("0042"), a.key("42"));
        assert_ne!(a.key("0042"), b.key("0042"));
        let k = a.key("0042");
        assert_eq!(CustomerKey::parse(&k.to_hex()), Some(k));
        assert_eq!(k.to_hex().len(), 32);
    }
}
