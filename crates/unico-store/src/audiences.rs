//! Ad audiences: who may be targeted on an ad platform (a segment's or a campaign's
//! customers with the marketing consent given), their contacts opened in memory only, the
//! platforms' normalisation and SHA-256 of those contacts, and the suppression list (customers
//! who withdrew the marketing consent, and the hashes kept of erased customers' contacts).
//!
//! Normalisation, as the platforms document it:
//! - **e-mail** (Meta and Google alike): surrounding white space removed, lower case (and
//!   no white space inside);
//! - **phone, Meta**: digits only — no `+`, symbols or letters, no leading zeros — with the
//!   country code (`+44 7123 456789` → `447123456789`);
//! - **phone, Google**: E.164, `+` then the country code and the number (`+447123456789`).

use crate::privacy::CURRENT_CONSENT;
use crate::{Error, ErrorKind, Pii, Store, now};
use sha2::Digest;

/// The SHA-256 of a text, lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// An e-mail as both platforms hash it: no white space, lower case. `None` when empty.
pub fn normalise_email(email: &str) -> Option<String> {
    let e: String = email.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    (!e.is_empty()).then_some(e)
}

/// A phone as Meta hashes it: digits only, leading zeros dropped (an international `00`
/// prefix with them). The number must carry its country code, as the customer master's E.164
/// numbers do. `None` when no digit is left.
pub fn normalise_phone_meta(phone: &str) -> Option<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let d = digits.trim_start_matches('0');
    (!d.is_empty()).then(|| d.to_string())
}

/// A phone as Google hashes it: E.164, `+` and the digits with the country code.
pub fn normalise_phone_google(phone: &str) -> Option<String> {
    normalise_phone_meta(phone).map(|d| format!("+{d}"))
}

/// A customer's contacts, opened in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contacts {
    /// The customer.
    pub customer_id: i64,
    /// Their e-mails (one per registration that has one).
    pub emails: Vec<String>,
    /// Their phones (E.164).
    pub phones: Vec<String>,
}

/// The hashes kept of an erased customer's contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// SHA-256 of the normalised e-mail.
    pub email_sha256: Option<String>,
    /// SHA-256 of the phone as Google normalises it.
    pub phone_plus_sha256: Option<String>,
    /// SHA-256 of the phone as Meta normalises it.
    pub phone_digits_sha256: Option<String>,
}

impl Suppressed {
    /// The hashes of one e-mail and one phone.
    pub fn of(email: Option<&str>, phone: Option<&str>) -> Suppressed {
        Suppressed {
            email_sha256: email.and_then(normalise_email).map(|e| sha256_hex(&e)),
            phone_plus_sha256: phone.and_then(normalise_phone_google).map(|p| sha256_hex(&p)),
            phone_digits_sha256: phone.and_then(normalise_phone_meta).map(|p| sha256_hex(&p)),
        }
    }
}

fn marketing(granted: bool) -> String {
    format!(
        "EXISTS (SELECT 1 FROM consents c WHERE c.customer_id = k.customer_id AND c.purpose = 'marketing' \
         AND c.granted = {} AND {CURRENT_CONSENT})",
        i32::from(granted)
    )
}

impl Store {
    /// Customers holding a card in a segment of the published profiles whose marketing
    /// consent is given now.
    pub async fn audience_of_segment(&self, segment: &str) -> Result<Vec<i64>, Error> {
        let rows: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT k.customer_id FROM cards k JOIN profiles p ON p.customer_key = k.customer_key \
             WHERE p.segment = $1 AND {} ORDER BY k.customer_id",
            marketing(true)
        )))
        .bind(segment)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// A stored campaign's customers who were given offers (never its holdout, which must
    /// see no advertising either), whose marketing consent is given now. A customer with two
    /// cards is in the campaign by both cards' keys (the holdout is drawn per key): with one
    /// held out and one with offers, they count as held out, out of the audience.
    pub async fn audience_of_campaign(&self, campaign: &str) -> Result<Vec<i64>, Error> {
        let known: Option<(String,)> =
            sqlx::query_as("SELECT id FROM campaigns WHERE id = $1").bind(campaign).fetch_optional(&self.pool).await?;
        if known.is_none() {
            return Err(Error::new(ErrorKind::NotFound, format!("no campaign {campaign:?}")));
        }
        let rows: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT k.customer_id FROM cards k JOIN campaign_members m ON m.customer_key = k.customer_key \
             WHERE m.campaign_id = $1 AND m.status IN ('personal', 'generic') AND {} \
             AND NOT EXISTS (SELECT 1 FROM cards h JOIN campaign_members x ON x.customer_key = h.customer_key \
             WHERE h.customer_id = k.customer_id AND x.campaign_id = $1 AND x.status = 'holdout') \
             ORDER BY k.customer_id",
            marketing(true)
        )))
        .bind(campaign)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The segments of the published profiles.
    pub async fn segments(&self) -> Result<Vec<String>, Error> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT segment FROM profiles ORDER BY segment").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Customers holding a card whose marketing consent is withdrawn now.
    pub async fn marketing_withdrawn(&self) -> Result<Vec<i64>, Error> {
        let rows: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT k.customer_id FROM cards k WHERE {} ORDER BY k.customer_id",
            marketing(false)
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The e-mails and phones of these customers (every registration merged into each),
    /// opened in memory.
    pub async fn contacts(&self, customers: &[i64]) -> Result<Vec<Contacts>, Error> {
        let mut out = Vec::with_capacity(customers.len());
        for &customer in customers {
            let mut c = Contacts { customer_id: customer, emails: Vec::new(), phones: Vec::new() };
            for rid in self.registrations_of(customer).await? {
                if let Some(pii) = self.pii_of(rid).await? {
                    c.emails.extend(pii.email.filter(|e| !c.emails.contains(e)));
                    c.phones.extend(pii.phone.filter(|p| !c.phones.contains(p)));
                }
            }
            out.push(c);
        }
        Ok(out)
    }

    /// One registration's personal data, opened (none once erased).
    pub(crate) async fn pii_of(&self, registration: i64) -> Result<Option<Pii>, Error> {
        let (token, wrapped, sealed): (String, Option<Vec<u8>>, Option<Vec<u8>>) =
            sqlx::query_as("SELECT token, wrapped_key, pii FROM customers WHERE id = $1")
                .bind(registration)
                .fetch_one(&self.pool)
                .await?;
        let (Some(w), Some(s)) = (wrapped, sealed) else { return Ok(None) };
        let dk = self.key.unwrap(&token, &w)?;
        let pii: Pii = serde_json::from_slice(&dk.open(&token, &s)?)
            .map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        Ok(Some(pii))
    }

    /// Keeps the platform hashes of contacts about to be erased, in the erasure's transaction.
    pub(crate) async fn keep_suppressed(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        hashes: &[Suppressed],
    ) -> Result<(), Error> {
        let at = now();
        for h in hashes {
            sqlx::query(
                "INSERT INTO ad_suppressions (reason, email_sha256, phone_plus_sha256, phone_digits_sha256, at) \
                 VALUES ('erased', $1, $2, $3, $4)",
            )
            .bind(&h.email_sha256)
            .bind(&h.phone_plus_sha256)
            .bind(&h.phone_digits_sha256)
            .bind(&at)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// The hashes kept of erased customers' contacts.
    pub async fn suppressed(&self) -> Result<Vec<Suppressed>, Error> {
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT email_sha256, phone_plus_sha256, phone_digits_sha256 FROM ad_suppressions ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(e, p, d)| Suppressed { email_sha256: e, phone_plus_sha256: p, phone_digits_sha256: d })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_normalised_as_the_platforms_document() {
        // Meta: "remove symbols, letters, and any leading zeroes", the country code in front,
        // no "+" ("447123456", not "+447123456").
        assert_eq!(normalise_phone_meta("+44 7123 456").as_deref(), Some("447123456"));
        assert_eq!(normalise_phone_meta("+1 (650) 555-1212").as_deref(), Some("16505551212"));
        assert_eq!(normalise_phone_meta("0039 333 1234567").as_deref(), Some("393331234567"));
        // Google Customer Match: E.164 ("+12125650000", "+442070313000").
        assert_eq!(normalise_phone_google("1-212-565-0000").as_deref(), Some("+12125650000"));
        assert_eq!(normalise_phone_google("+44 20 7031 3000").as_deref(), Some("+442070313000"));
        assert_eq!(normalise_phone_google("+393331234567").as_deref(), Some("+393331234567"));
        // E-mail: trimmed and lower case for both.
        assert_eq!(normalise_email("  Jane.Doe@Example.COM \n").as_deref(), Some("jane.doe@example.com"));
        assert_eq!(normalise_email("   "), None);
        assert_eq!(normalise_phone_meta("no digits"), None);
    }

    #[test]
    fn hashes_are_the_platforms_sha256_in_lower_case_hex() {
        // The X (Twitter) Ads documentation's example: sha256("adsapi").
        assert_eq!(sha256_hex("adsapi"), "49e0be2aeccfb51a8dee4c945c8a70a9ac500cf6f5cb08112575f74db9b1470d");
        // TikTok's customer-file documentation: "janedoe@gmail.com" hashed.
        let e = normalise_email(" JaneDoe@Gmail.com ").unwrap();
        assert_eq!(sha256_hex(&e), "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69");
        let s = Suppressed::of(Some("JaneDoe@gmail.com"), Some("+1 657 777 0000"));
        assert_eq!(s.email_sha256.as_deref(), Some("d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"));
        assert_eq!(s.phone_plus_sha256, Some(sha256_hex("+16577770000")));
        assert_eq!(s.phone_digits_sha256, Some(sha256_hex("16577770000")));
    }
}
