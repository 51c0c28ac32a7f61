//! Decoding one field's bytes from the file's declared encoding.
//!
//! Fields are decoded one at a time so that a byte that is invalid in the declared encoding
//! rejects that row with the column and byte named, and never the whole file. ASCII fields
//! (the vast majority) are borrowed without copying.

use super::FieldError;
use crate::mapping::Encoding;
use std::borrow::Cow;

/// Bytes that Windows-1252 leaves undefined.
const CP1252_UNDEFINED: [u8; 5] = [0x81, 0x8D, 0x8F, 0x90, 0x9D];

/// Decodes `bytes` from `encoding` into text.
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<Cow<'_, str>, FieldError> {
    if encoding != Encoding::Utf8 && bytes.is_ascii() {
        return Ok(Cow::Borrowed(std::str::from_utf8(bytes).expect("ASCII is UTF-8")));
    }
    match encoding {
        Encoding::Utf8 => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(e) => {
                let bad = bytes[e.valid_up_to()];
                Err(FieldError {
                    reason: format!("byte 0x{bad:02X} at position {} is not valid UTF-8", e.valid_up_to() + 1),
                    raw: String::from_utf8_lossy(bytes).into_owned(),
                })
            }
        },
        Encoding::Latin1 => Ok(Cow::Owned(bytes.iter().map(|&b| b as char).collect())),
        Encoding::Windows1252 => {
            if let Some(pos) = bytes.iter().position(|b| CP1252_UNDEFINED.contains(b)) {
                return Err(FieldError {
                    reason: format!("byte 0x{:02X} at position {} is not defined in Windows-1252", bytes[pos], pos + 1),
                    raw: String::from_utf8_lossy(bytes).into_owned(),
                });
            }
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            Ok(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_encoding() {
        assert_eq!(decode(b"caff\xe8", Encoding::Latin1).unwrap(), "caffè");
        assert_eq!(decode(b"caff\xe8 \x80", Encoding::Windows1252).unwrap(), "caffè €");
        assert_eq!(decode("caffè".as_bytes(), Encoding::Utf8).unwrap(), "caffè");
        assert!(matches!(decode(b"plain", Encoding::Utf8).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn names_the_invalid_byte() {
        let e = decode(b"caff\xe8", Encoding::Utf8).unwrap_err();
        assert_eq!(e.reason, "byte 0xE8 at position 5 is not valid UTF-8");
        let e = decode(b"a\x81b", Encoding::Windows1252).unwrap_err();
        assert_eq!(e.reason, "byte 0x81 at position 2 is not defined in Windows-1252");
    }
}
