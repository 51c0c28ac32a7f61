//! Normalisation of a customer master's fields, and the folded forms used for matching.
//!
//! Display forms keep what the customer wrote (accents included), cleaned: trimmed,
//! white space collapsed, Unicode NFC, and names in ALL CAPS or all lower case put in title
//! case. Matching forms fold accents, case and punctuation away, so `Nicolò D'Angelo` and
//! `NICOLO DANGELO` compare equal. Phone numbers become E.164 with a default country
//! (`phonenumber`, a port of Google's libphonenumber, rather than rules of our own).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Trims, collapses inner white space, and normalises to NFC.
pub fn clean(text: &str) -> String {
    let nfc: String = text.nfc().collect();
    nfc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A name as it should be displayed: cleaned, and title-cased when written all in capitals
/// or all in lower case (`MARIA D'ANGELO` → `Maria D'Angelo`); mixed case is kept.
pub fn display_name(text: &str) -> String {
    let c = clean(text);
    let has_upper = c.chars().any(|ch| ch.is_uppercase());
    let has_lower = c.chars().any(|ch| ch.is_lowercase());
    if has_upper && has_lower {
        return c;
    }
    let mut out = String::with_capacity(c.len());
    let mut start = true;
    for ch in c.chars() {
        if start {
            out.extend(ch.to_uppercase());
        } else {
            out.extend(ch.to_lowercase());
        }
        start = matches!(ch, ' ' | '-' | '\'' | '’' | '.');
    }
    out
}

/// The folded form for matching: accents removed, lower case, letters and digits only,
/// words separated by one space.
pub fn fold(text: &str) -> String {
    let base: String = text.nfd().filter(|c| !is_combining_mark(*c)).collect();
    let mut out = String::with_capacity(base.len());
    let mut space = false;
    for ch in base.chars() {
        if ch.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.extend(ch.to_lowercase());
        } else if ch.is_whitespace() || ch == '-' || ch == '.' || ch == ',' {
            space = true;
        }
        // Apostrophes and other punctuation vanish: D'Angelo and DAngelo match.
    }
    out
}

/// A lower-cased, syntactically valid e-mail address.
pub fn email(text: &str) -> Result<String, String> {
    let e = text.trim().to_lowercase();
    if e.is_empty() {
        return Err("empty e-mail".into());
    }
    let valid = email_address::EmailAddress::is_valid(&e)
        && e.rsplit_once('@').is_some_and(|(_, domain)| domain.contains('.') && !domain.ends_with('.'));
    if valid { Ok(e) } else { Err(format!("{:?} is not an e-mail address", text.trim())) }
}

/// A phone number in E.164 (`+393331234567`), read with `country` as the default.
pub fn phone(text: &str, country: phonenumber::country::Id) -> Result<String, String> {
    let t = text.trim();
    let e164 = |n: &phonenumber::PhoneNumber| n.format().mode(phonenumber::Mode::E164).to_string();
    let number = phonenumber::parse(Some(country), t).map_err(|_| format!("{t:?} is not a phone number"))?;
    if phonenumber::is_valid(&number) {
        return Ok(e164(&number));
    }
    // A national number that starts with the country's own code (Italian mobiles 393…) is
    // taken by the parser for an international one; read it again as explicitly national.
    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    if !t.starts_with('+') && !t.starts_with("00") {
        let code = phonenumber::metadata::DATABASE.by_id(country.as_ref()).map(|m| m.country_code());
        let again = code.and_then(|code| phonenumber::parse(None, format!("+{code}{digits}")).ok());
        if let Some(n) = again.filter(phonenumber::is_valid) {
            return Ok(e164(&n));
        }
    }
    Err(format!("{t:?} is not a valid phone number"))
}

/// An Italian postcode (CAP): five digits; shorter digit strings get their leading zeros
/// back (spreadsheets drop them: Rome's 00184 becomes 184).
pub fn postcode(text: &str) -> Result<String, String> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if t.is_empty() || t.len() > 5 || !t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{:?} is not a postcode (five digits)", text.trim()));
    }
    Ok(format!("{t:0>5}"))
}

const CF_ODD: [u32; 26] =
    [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];

/// An Italian tax code (codice fiscale): 16 characters in the official pattern, whose last
/// letter is the checksum of the first 15. Temporary numeric codes (11 digits) are refused.
pub fn tax_code(text: &str) -> Result<String, String> {
    let cf: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    let b = cf.as_bytes();
    let letter = |i: usize| b[i].is_ascii_uppercase();
    // Digits in positions 7-8, 10-11, 13-15 may be replaced by letters (omocodia): accept both.
    let alnum = |i: usize| b[i].is_ascii_uppercase() || b[i].is_ascii_digit();
    let shape = b.len() == 16 && (0..6).all(letter) && (6..15).all(alnum) && letter(8) && letter(11) && letter(15);
    if !shape {
        return Err(format!("{:?} is not a codice fiscale (16 characters)", text.trim()));
    }
    let sum: u32 = b[..15]
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let idx = if c.is_ascii_digit() { (c - b'0') as usize } else { (c - b'A') as usize };
            if i % 2 == 0 { CF_ODD[idx] } else { idx as u32 }
        })
        .sum();
    let expected = (b'A' + (sum % 26) as u8) as char;
    if b[15] as char != expected {
        return Err(format!("{cf:?}: the check letter should be {expected}"));
    }
    Ok(cf)
}

/// A birth date, with the mapping's strftime format or in a common form (ISO, dd/mm/yyyy,
/// dd-mm-yyyy, dd.mm.yyyy), between 1900 and `today`.
pub fn birth_date(text: &str, format: Option<&str>, today: jiff::civil::Date) -> Result<jiff::civil::Date, String> {
    let t = text.trim();
    let parsed = match format {
        Some(f) => jiff::fmt::strtime::parse(f, t).ok().and_then(|tm| tm.to_date().ok()),
        None => t.parse::<jiff::civil::Date>().ok().or_else(|| {
            ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"]
                .iter()
                .find_map(|f| jiff::fmt::strtime::parse(f, t).ok().and_then(|tm| tm.to_date().ok()))
        }),
    };
    let d = parsed.ok_or_else(|| format!("{t:?} is not a date"))?;
    if d.year() < 1900 || d > today {
        return Err(format!("{d} is not a plausible birth date"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_accents_for_display_and_fold_for_matching() {
        assert_eq!(clean("  Maria   Luisa\t"), "Maria Luisa");
        assert_eq!(clean("Nicolo\u{300}"), "Nicolò", "decomposed input becomes NFC");
        assert_eq!(display_name("MARIA D'ANGELO"), "Maria D'Angelo");
        assert_eq!(display_name("anna-maria rossi"), "Anna-Maria Rossi");
        assert_eq!(display_name("McDonald"), "McDonald", "mixed case is the customer's choice");
        assert_eq!(fold("Nicolò D'Angelo"), fold("NICOLO DANGELO"));
        assert_eq!(fold("  Via  Roma, 12 "), "via roma 12");
        assert_eq!(fold("Città"), "citta");
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(email(" Giulia.Rossi@Libero.IT ").unwrap(), "giulia.rossi@libero.it");
        for bad in ["", "giulia", "giulia@", "@libero.it", "giulia@libero", "a b@c.it", "giulia@libero."] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn phones_become_e164_with_italy_by_default() {
        let it = phonenumber::country::Id::IT;
        for form in ["333 1234567", "+39 333-123-4567", "0039 333 1234567", "(333) 123 45 67", "3331234567"] {
            assert_eq!(phone(form, it).unwrap(), "+393331234567", "{form}");
        }
        assert_eq!(phone("06 1234 5678", it).unwrap(), "+390612345678", "landlines keep their leading zero");
        assert_eq!(phone("393 4606980", it).unwrap(), "+393934606980", "a mobile that starts with the country code");
        assert_eq!(phone("+39 393-460-6980", it).unwrap(), "+393934606980");
        assert_eq!(phone("+44 20 7946 0958", it).unwrap(), "+442079460958");
        for bad in ["12", "not a phone", "333"] {
            assert!(phone(bad, it).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn postcodes_and_tax_codes() {
        assert_eq!(postcode("00184").unwrap(), "00184");
        assert_eq!(postcode("184").unwrap(), "00184");
        assert!(postcode("2012A").is_err());
        assert!(postcode("201210").is_err());
        assert_eq!(tax_code("rssmra85t10a562s").unwrap(), "RSSMRA85T10A562S");
        assert_eq!(tax_code("MRT MTT 91D08 F205J").unwrap(), "MRTMTT91D08F205J");
        assert!(tax_code("RSSMRA85T10A562X").unwrap_err().contains("check letter should be S"));
        assert!(tax_code("RSSMRA85T10A562").is_err());
        assert!(tax_code("12345678901").is_err());
    }

    #[test]
    fn birth_dates_in_the_forms_people_write_them() {
        let today = jiff::civil::date(2026, 11, 23);
        let d = jiff::civil::date(1985, 12, 10);
        for form in ["1985-12-10", "10/12/1985", "10-12-1985", "10.12.1985"] {
            assert_eq!(birth_date(form, None, today).unwrap(), d, "{form}");
        }
        assert_eq!(birth_date("12/10/1985", Some("%m/%d/%Y"), today).unwrap(), d);
        assert!(birth_date("31/02/1985", None, today).is_err());
        assert!(birth_date("1850-01-01", None, today).is_err());
        assert!(birth_date("2030-01-01", None, today).is_err());
    }
}
