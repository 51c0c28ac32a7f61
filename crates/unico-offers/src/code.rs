//! Offer codes: unique within a campaign and unguessable without the chain's secret.
//!
//! A code is the HMAC-SHA256 of the campaign, customer key and product under the data
//! directory's secret, cut to 60 bits and written in Crockford's base32 (no I, L, O, U:
//! nothing to misread at a till) as `XXXX-XXXX-XXXX`. The same plan gives the same codes;
//! someone holding one code cannot derive another. At 60 bits, guessing a valid code
//! among a million takes about 10^12 tries.

use hmac::{Hmac, Mac};
use sha2::Sha256;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The code of an offer. `attempt` separates codes that happen to collide (0 first).
pub fn offer_code(secret: &[u8], campaign: &str, customer_key: &str, sku: &str, attempt: u32) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    for part in [campaign.as_bytes(), customer_key.as_bytes(), sku.as_bytes()] {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part);
    }
    mac.update(&attempt.to_le_bytes());
    let digest = mac.finalize().into_bytes();
    let bits = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) >> 4;
    let mut out = String::with_capacity(14);
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[((bits >> (55 - 5 * i)) & 31) as usize] as char);
    }
    out
}

/// Normalises a typed code (case, spaces, dashes, and the letters Crockford reads as
/// digits) for lookup.
pub fn normalise(code: &str) -> String {
    let chars: Vec<char> = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_stable_distinct_and_keyed() {
        let a = offer_code(b"secret", "spring", "k1", "C1", 0);
        assert_eq!(a, offer_code(b"secret", "spring", "k1", "C1", 0));
        assert_eq!(a.len(), 14);
        assert!(a.chars().all(|c| c == '-' || ALPHABET.contains(&(c as u8))));
        assert_ne!(a, offer_code(b"other", "spring", "k1", "C1", 0), "another secret, another code");
        assert_ne!(a, offer_code(b"secret", "spring", "k1", "C1", 1));
        // The parts are length-prefixed: ("k1", "C1") and ("k1C", "1") differ.
        assert_ne!(a, offer_code(b"secret", "spring", "k1C", "1", 0));
        let many: HashSet<String> = (0..100_000).map(|i| offer_code(b"s", "c", &format!("k{i}"), "p", 0)).collect();
        assert_eq!(many.len(), 100_000);
        assert_eq!(normalise(&a.to_lowercase().replace('-', " ")), a);
        assert_eq!(normalise("abcd-efgh-oil0"), "ABCD-EFGH-0110");
    }
}
