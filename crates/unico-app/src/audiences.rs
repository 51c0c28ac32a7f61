//! Ad audiences for social media and search ads: `unico audiences export`. The customers of a
//! segment or of a campaign's offers (never its holdout) who gave the marketing consent, as a
//! file of SHA-256 digests of their normalised e-mails and phones in the layout Meta Custom
//! Audiences or Google Customer Match reads, with the suppression list beside it: the
//! contacts of customers who withdrew the marketing consent and those kept, already hashed,
//! of erased customers. Contacts are opened in memory and hashed there: no file holds one in
//! clear. Every export is in the audit log. See `docs/audiences.md`.

use crate::error::{Code, Error, Result};
use crate::staff::Caller;
use crate::{App, bail};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use unico_store::audiences::{
    Contacts, Suppressed, normalise_email, normalise_phone_google, normalise_phone_meta, sha256_hex,
};

/// An ad platform's file layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Meta Custom Audiences (customer list): `email`, `phone` — phone as digits with the
    /// country code.
    Meta,
    /// Google Customer Match: `Email`, `Phone` — phone in E.164.
    Google,
}

impl Platform {
    /// From the command line's word.
    pub fn parse(word: &str) -> Result<Platform> {
        match word {
            "meta" => Ok(Platform::Meta),
            "google" => Ok(Platform::Google),
            other => bail!(Code::InputInvalid, "--format {other:?}: meta or google"),
        }
    }

    fn header(self) -> &'static str {
        match self {
            Platform::Meta => "email,phone",
            Platform::Google => "Email,Phone",
        }
    }

    fn phone_sha(self, phone: &str) -> Option<String> {
        match self {
            Platform::Meta => normalise_phone_meta(phone),
            Platform::Google => normalise_phone_google(phone),
        }
        .map(|p| sha256_hex(&p))
    }

    fn suppressed_phone(self, s: &Suppressed) -> Option<String> {
        match self {
            Platform::Meta => s.phone_digits_sha256.clone(),
            Platform::Google => s.phone_plus_sha256.clone(),
        }
    }
}

/// Who goes in the audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// A segment of the published profiles (`unico model build`).
    Segment(String),
    /// A stored campaign's customers with offers.
    Campaign(String),
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct AudienceExport {
    /// The platform's layout.
    pub platform: Platform,
    /// Customers in the audience (marketing consent given).
    pub customers: usize,
    /// Rows of the audience file.
    pub rows: usize,
    /// Rows with a hashed e-mail.
    pub with_email: usize,
    /// Rows with a hashed phone.
    pub with_phone: usize,
    /// Rows of the suppression list (withdrawn consent, erased).
    pub suppressed: usize,
    /// The audience file.
    pub file: PathBuf,
    /// The suppression list.
    pub suppression_file: PathBuf,
}

/// The rows of a file: one per contact pair, each a hashed e-mail and/or phone.
fn rows_of(platform: Platform, contacts: &[Contacts]) -> Vec<(Option<String>, Option<String>)> {
    let mut rows = Vec::new();
    for c in contacts {
        let emails: Vec<String> = c.emails.iter().filter_map(|e| normalise_email(e)).map(|e| sha256_hex(&e)).collect();
        let phones: Vec<String> = c.phones.iter().filter_map(|p| platform.phone_sha(p)).collect();
        for i in 0..emails.len().max(phones.len()) {
            rows.push((emails.get(i).cloned(), phones.get(i).cloned()));
        }
    }
    rows
}

/// Writes rows whole or not at all (a temporary file renamed over the target).
fn write_csv(path: &Path, header: &str, rows: &[(Option<String>, Option<String>)]) -> Result<()> {
    let tmp = path.with_extension("csv.partial");
    let write = || -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        writeln!(f, "{header}")?;
        for (e, p) in rows {
            writeln!(f, "{},{}", e.as_deref().unwrap_or(""), p.as_deref().unwrap_or(""))?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| Error::with_source(Code::Io, format!("cannot write {}", path.display()), e))
}

/// `audience.csv` → `audience-suppression.csv`.
pub fn suppression_path(out: &Path) -> PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "audience".into());
    out.with_file_name(format!("{stem}-suppression.csv"))
}

impl App {
    /// Exports an audience for an ad platform to `out` and its suppression list beside it.
    pub fn export_audience(
        &self,
        who: &Audience,
        platform: Platform,
        out: &Path,
        by: &Caller,
    ) -> Result<AudienceExport> {
        let members = match who {
            Audience::Segment(s) => {
                let known = self.with_store(async |st| Ok(st.segments().await?))?;
                if !known.contains(s) {
                    bail!(
                        Code::NotFound,
                        "no segment {s:?} in the published profiles (there are: {}); build the model first",
                        known.join(", ")
                    );
                }
                self.with_store(async |st| Ok(st.audience_of_segment(s).await?))?
            }
            Audience::Campaign(c) => self.with_store(async |st| {
                st.audience_of_campaign(c).await.map_err(|e| match e.kind() {
                    unico_store::ErrorKind::NotFound => Error::new(Code::CampaignNotFound, e.to_string()),
                    _ => e.into(),
                })
            })?,
        };
        let (contacts, withdrawn, erased) = self.with_store(async |st| {
            let withdrawn = st.marketing_withdrawn().await?;
            Ok((st.contacts(&members).await?, st.contacts(&withdrawn).await?, st.suppressed().await?))
        })?;
        let rows = rows_of(platform, &contacts);
        let mut suppression = rows_of(platform, &withdrawn);
        suppression.extend(erased.iter().map(|s| (s.email_sha256.clone(), platform.suppressed_phone(s))));
        suppression.retain(|(e, p)| e.is_some() || p.is_some());
        let suppression_file = suppression_path(out);
        write_csv(out, platform.header(), &rows)?;
        write_csv(&suppression_file, platform.header(), &suppression)?;
        let export = AudienceExport {
            platform,
            customers: members.len(),
            rows: rows.len(),
            with_email: rows.iter().filter(|r| r.0.is_some()).count(),
            with_phone: rows.iter().filter(|r| r.1.is_some()).count(),
            suppressed: suppression.len(),
            file: out.to_path_buf(),
            suppression_file,
        };
        let what = match who {
            Audience::Segment(s) => serde_json::json!({"segment": s}),
            Audience::Campaign(c) => serde_json::json!({"campaign": c}),
        };
        self.record(
            by,
            "audience_export",
            None,
            &serde_json::json!({"audience": what, "platform": platform, "customers": export.customers,
                "rows": export.rows, "suppressed": export.suppressed}),
        )?;
        Ok(export)
    }
}
