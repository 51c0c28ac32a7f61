//! Encryption of personal data at rest, and keyed hashes for looking it up.
//!
//! Every customer has a random 256-bit data key. Their personal data is sealed with it
//! (XChaCha20-Poly1305, a random 192-bit nonce per seal, the customer's id as associated
//! data, so a ciphertext moved to another row does not open). The data key is stored only
//! wrapped by a key derived from the master key. Erasing a customer destroys the wrapped key
//! (crypto-shredding): every copy of their ciphertext, backups included, becomes noise.
//!
//! Lookups (by e-mail, phone, tax code, card; blocking keys for duplicate detection) use
//! HMAC-SHA-256 under another key derived from the master key, so the database holds no
//! value that can be reversed or guessed from a list of e-mails without the master key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// The master key (32 bytes) from the data directory or `UNICO_MASTER_KEY`.
#[derive(Clone)]
pub struct MasterKey {
    wrap: [u8; 32],
    lookup: [u8; 32],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

fn derive(master: &[u8; 32], purpose: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("any key length");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Sealing or opening failed: a wrong key, or a damaged or moved ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decrypt: wrong key or damaged data")]
pub struct CryptoError;

fn seal_with(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; 24];
    rand::fill(&mut nonce);
    let ct =
        cipher.encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad }).expect("encryption cannot fail");
    let mut out = Vec::with_capacity(24 + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn open_with(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < 24 {
        return Err(CryptoError);
    }
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher.decrypt(XNonce::from_slice(&sealed[..24]), Payload { msg: &sealed[24..], aad }).map_err(|_| CryptoError)
}

impl MasterKey {
    /// A master key from its 64 hex characters.
    pub fn from_hex(text: &str) -> Option<MasterKey> {
        let mut master = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut master).ok()?;
        Some(MasterKey { wrap: derive(&master, "unico/wrap/v1"), lookup: derive(&master, "unico/lookup/v1") })
    }

    /// A new random master key, as hex.
    pub fn generate_hex() -> String {
        let mut k = [0u8; 32];
        rand::fill(&mut k);
        hex::encode(k)
    }

    /// A new data key for the row whose random token is `row`, and its wrapped form.
    pub fn new_data_key(&self, row: &str) -> (DataKey, Vec<u8>) {
        let mut k = [0u8; 32];
        rand::fill(&mut k);
        let wrapped = seal_with(&self.wrap, &k, row.as_bytes());
        (DataKey(k), wrapped)
    }

    /// Unwraps the data key of the row whose token is `row`.
    pub fn unwrap(&self, row: &str, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        let k = open_with(&self.wrap, wrapped, row.as_bytes())?;
        Ok(DataKey(k.try_into().map_err(|_| CryptoError)?))
    }

    /// The keyed hash of a normalised value in a domain (`email`, `phone`, `card`…), as hex.
    pub fn lookup(&self, domain: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup).expect("any key length");
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..20])
    }
}

/// A customer's data key; lives in memory only while their data is read or written.
pub struct DataKey([u8; 32]);

impl DataKey {
    /// Seals `plaintext` for the row `row`.
    pub fn seal(&self, row: &str, plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.0, plaintext, row.as_bytes())
    }

    /// The key itself as hex, for a key that is a secret shared with someone else (a
    /// webhook's signing secret, wrapped at rest like a data key).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Opens what [`DataKey::seal`] sealed for the row `row`.
    pub fn open(&self, row: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.0, sealed, row.as_bytes())
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0 = [0; 32];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_its_key_and_row() {
        let mk = MasterKey::from_hex(&MasterKey::generate_hex()).unwrap();
        let (dk, wrapped) = mk.new_data_key("row7");
        let sealed = dk.seal("row7", b"Giulia Rossi");
        assert!(!sealed.windows(6).any(|w| w == b"Giulia"));
        let dk2 = mk.unwrap("row7", &wrapped).unwrap();
        assert_eq!(dk2.open("row7", &sealed).unwrap(), b"Giulia Rossi");
        assert_eq!(dk2.open("row8", &sealed), Err(CryptoError), "moved to another row");
        assert!(mk.unwrap("row8", &wrapped).is_err());
        let other = MasterKey::from_hex(&MasterKey::generate_hex()).unwrap();
        assert!(other.unwrap("row7", &wrapped).is_err(), "another master key");
        assert_ne!(dk.seal("row7", b"x"), dk.seal("row7", b"x"), "a fresh nonce each time");
    }

    #[test]
    fn lookups_are_keyed_and_separated_by_domain() {
        let a = MasterKey::from_hex(&"11".repeat(32)).unwrap();
        let b = MasterKey::from_hex(&"22".repeat(32)).unwrap();
        assert_eq!(a.lookup("email", "x@y.it"), a.lookup("email", "x@y.it"));
        assert_ne!(a.lookup("email", "x@y.it"), b.lookup("email", "x@y.it"));
        assert_ne!(a.lookup("email", "x@y.it"), a.lookup("phone", "x@y.it"));
        assert!(MasterKey::from_hex("zz").is_none());
    }
}
