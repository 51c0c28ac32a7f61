//! The mapping file: how a retailer's export maps onto Unico's canonical columns.
//!
//! A mapping has two tables. `[source]` describes the file (format, delimiter, decimal and
//! thousands separators, text encoding, timestamp format and zone, header). `[columns]`
//! names, for each canonical column, the source column that holds it — by header name, or by
//! 1-based position when the file has no header. Without a mapping, a file whose header
//! already uses the canonical names imports as it is.

use crate::error::{Error, ErrorKind};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use unico_core::DecimalFormat;

/// The kinds of data the lake holds, each with its canonical columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    /// Receipt lines from tills and web shops.
    Receipts,
    /// The product master.
    Products,
    /// The store master.
    Stores,
    /// The customer master (imported into the operational store, never into the lake).
    Customers,
    /// Survey answers, CSAT and NPS (imported into the operational store).
    Surveys,
    /// Past promotion campaigns (promotion history).
    Campaigns,
    /// The coupons of past campaigns.
    Coupons,
    /// The products each coupon covered.
    CouponProducts,
    /// Who received each past campaign.
    CampaignMembers,
    /// Redemptions of past coupons.
    Redemptions,
}

impl Dataset {
    /// The dataset's folder name in the lake.
    pub const fn dir_name(self) -> &'static str {
        match self {
            Dataset::Receipts => "receipt_lines",
            Dataset::Products => "products",
            Dataset::Stores => "stores",
            Dataset::Customers => "customers",
            Dataset::Surveys => "surveys",
            Dataset::Campaigns => "campaigns",
            Dataset::Coupons => "coupons",
            Dataset::CouponProducts => "coupon_products",
            Dataset::CampaignMembers => "campaign_members",
            Dataset::Redemptions => "redemptions",
        }
    }

    /// The word used for this dataset on the command line and in import ids.
    pub const fn noun(self) -> &'static str {
        match self {
            Dataset::Receipts => "receipts",
            Dataset::Products => "products",
            Dataset::Stores => "stores",
            Dataset::Customers => "customers",
            Dataset::Surveys => "surveys",
            Dataset::Campaigns => "campaigns",
            Dataset::Coupons => "coupons",
            Dataset::CouponProducts => "coupon-products",
            Dataset::CampaignMembers => "campaign-members",
            Dataset::Redemptions => "redemptions",
        }
    }

    /// Canonical input columns, in order, with whether each is required.
    pub const fn columns(self) -> &'static [(&'static str, bool)] {
        match self {
            Dataset::Receipts => &[
                ("receipt_id", true),
                ("line_no", false),
                ("ts", true),
                ("store_id", true),
                ("customer_id", false),
                ("sku", true),
                ("quantity", false),
                ("unit_price", false),
                ("discount", false),
                ("net_amount", true),
                ("channel", false),
            ],
            Dataset::Products => &[
                ("sku", true),
                ("name", false),
                ("department", false),
                ("category", false),
                ("subcategory", false),
                ("brand", false),
                ("supplier", false),
                ("unit_cost", false),
                ("list_price", false),
                ("durable", false),
            ],
            Dataset::Stores => &[("store_id", true), ("name", false), ("region", false), ("format", false)],
            Dataset::Customers => &[
                ("customer_id", true),
                ("first_name", false),
                ("last_name", false),
                ("email", false),
                ("phone", false),
                ("birth_date", false),
                ("address", false),
                ("postcode", false),
                ("city", false),
                ("tax_code", false),
                ("registered_at", false),
                ("consent_marketing", false),
                ("consent_profiling", false),
                ("consent_email", false),
                ("consent_sms", false),
                ("consent_app", false),
                ("consent_policy_version", false),
                ("consent_at", false),
            ],
            Dataset::Surveys => &[
                ("answer_id", true),
                ("answered_at", true),
                ("question", true),
                ("score", true),
                ("customer_id", false),
                ("store_id", false),
                ("channel", false),
                ("comment", false),
            ],
            Dataset::Campaigns => {
                &[("campaign_id", true), ("name", false), ("kind", false), ("start", true), ("end", true)]
            }
            Dataset::Coupons => &[
                ("coupon_id", true),
                ("campaign_id", true),
                ("percent_off", false),
                ("amount_off", false),
                ("buy_units", false),
                ("pay_units", false),
                ("min_spend", false),
            ],
            Dataset::CouponProducts => &[("coupon_id", true), ("sku", true)],
            Dataset::CampaignMembers => &[("campaign_id", true), ("customer_id", true)],
            Dataset::Redemptions => &[
                ("customer_id", true),
                ("coupon_id", false),
                ("campaign_id", false),
                ("ts", true),
                ("store_id", false),
                ("receipt_id", false),
                ("discount", false),
            ],
        }
    }

    /// The datasets kept in the lake.
    pub const ALL: [Dataset; 8] = [
        Dataset::Receipts,
        Dataset::Products,
        Dataset::Stores,
        Dataset::Campaigns,
        Dataset::Coupons,
        Dataset::CouponProducts,
        Dataset::CampaignMembers,
        Dataset::Redemptions,
    ];

    /// Every dataset, lake and store.
    pub const EVERY: [Dataset; 10] = [
        Dataset::Receipts,
        Dataset::Products,
        Dataset::Stores,
        Dataset::Customers,
        Dataset::Surveys,
        Dataset::Campaigns,
        Dataset::Coupons,
        Dataset::CouponProducts,
        Dataset::CampaignMembers,
        Dataset::Redemptions,
    ];

    /// The dataset a [`noun`](Dataset::noun) names (`receipts`, `coupon-products`, …).
    pub fn from_noun(noun: &str) -> Option<Dataset> {
        Dataset::EVERY.into_iter().find(|d| d.noun() == noun)
    }

    /// The promotion history's datasets (campaigns, coupons, what they covered, who got
    /// them, what was redeemed), kept in the lake.
    pub const HISTORY: [Dataset; 5] =
        [Dataset::Campaigns, Dataset::Coupons, Dataset::CouponProducts, Dataset::CampaignMembers, Dataset::Redemptions];
}

/// File formats Unico reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Delimited text.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// One JSON object per line.
    #[serde(alias = "json", alias = "ndjson")]
    Jsonl,
}

impl Format {
    /// Guesses the format from a file name's extension (`.csv`/`.txt`/`.tsv`, `.parquet`,
    /// `.jsonl`/`.ndjson`/`.json`).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" | "tsv" => Some(Format::Csv),
            "parquet" | "pq" => Some(Format::Parquet),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// Text encodings of CSV and JSON Lines sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 (a leading byte-order mark is skipped).
    #[default]
    Utf8,
    /// ISO-8859-1 (Latin-1): every byte is the code point of the same number.
    Latin1,
    /// Windows-1252: Latin-1 with typographic characters in 0x80–0x9F; the five bytes it
    /// leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) are invalid.
    Windows1252,
}

impl Encoding {
    fn parse(name: &str) -> Option<Encoding> {
        let n = name.trim().to_ascii_lowercase().replace('_', "-");
        match n.as_str() {
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            "iso-8859-1" | "latin1" | "latin-1" | "iso8859-1" | "l1" => Some(Encoding::Latin1),
            "windows-1252" | "cp1252" | "win1252" | "windows1252" => Some(Encoding::Windows1252),
            _ => None,
        }
    }
}

/// Where a canonical column is found in the source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    /// By header name.
    Name(String),
    /// By 1-based position (files without a header).
    Position(usize),
}

/// A parsed and checked mapping file.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The file format; `None` means "from the file extension".
    pub format: Option<Format>,
    /// Field delimiter of CSV sources.
    pub delimiter: u8,
    /// Quote character of CSV sources.
    pub quote: u8,
    /// Whether the first CSV line is a header.
    pub header: bool,
    /// How decimal numbers are written.
    pub decimal: DecimalFormat,
    /// Text encoding.
    pub encoding: Encoding,
    /// strftime format of timestamps; `None` accepts ISO 8601 (with or without offset,
    /// `T` or space, optional seconds and fraction) and plain dates.
    pub timestamp_format: Option<String>,
    /// IANA zone of timestamps written without an offset; `None` uses the chain's zone.
    pub timezone: Option<String>,
    /// Canonical column → source column. Empty means "canonical names, as they are".
    pub columns: BTreeMap<String, ColumnRef>,
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            format: None,
            delimiter: b',',
            quote: b'"',
            header: true,
            decimal: DecimalFormat::default(),
            encoding: Encoding::Utf8,
            timestamp_format: None,
            timezone: None,
            columns: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    #[serde(default)]
    source: RawSource,
    #[serde(default)]
    columns: BTreeMap<String, ColumnRef>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSource {
    format: Option<Format>,
    delimiter: Option<String>,
    quote: Option<String>,
    decimal: Option<String>,
    thousands: Option<String>,
    encoding: Option<String>,
    timestamp_format: Option<String>,
    timezone: Option<String>,
    header: Option<bool>,
}

fn single_byte(field: &str, value: &str) -> Result<u8, Error> {
    let v = match value {
        "\\t" | "tab" | "TAB" => "\t",
        "space" => " ",
        other => other,
    };
    match v.as_bytes() {
        [b] if b.is_ascii() => Ok(*b),
        _ => {
            Err(Error::new(ErrorKind::Mapping, format!("[source] {field} must be one ASCII character, got {value:?}")))
        }
    }
}

impl Mapping {
    /// Reads and checks a mapping file for `dataset`.
    pub fn from_file(path: &Path, dataset: Dataset) -> Result<Mapping, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(ErrorKind::Mapping, format!("cannot read mapping {}: {e}", path.display())))?;
        Mapping::from_toml(&text, dataset)
            .map_err(|e| Error::new(ErrorKind::Mapping, format!("{}: {}", path.display(), e.message())))
    }

    /// Parses and checks mapping text for `dataset`.
    pub fn from_toml(text: &str, dataset: Dataset) -> Result<Mapping, Error> {
        let raw: RawMapping = toml::from_str(text).map_err(|e| Error::new(ErrorKind::Mapping, e.to_string()))?;
        let s = raw.source;
        let mut m = Mapping { format: s.format, ..Mapping::default() };
        if let Some(d) = s.delimiter.as_deref() {
            m.delimiter = single_byte("delimiter", d)?;
        }
        if let Some(q) = s.quote.as_deref() {
            m.quote = single_byte("quote", q)?;
        }
        if let Some(h) = s.header {
            m.header = h;
        }
        if let Some(d) = s.decimal.as_deref() {
            m.decimal.decimal = match d {
                "." | "," => d.as_bytes()[0],
                _ => {
                    return Err(Error::new(
                        ErrorKind::Mapping,
                        format!("[source] decimal must be \".\" or \",\", got {d:?}"),
                    ));
                }
            };
        }
        if let Some(t) = s.thousands.as_deref() {
            m.decimal.thousands = if t.is_empty() { None } else { Some(single_byte("thousands", t)?) };
        }
        if m.decimal.thousands == Some(m.decimal.decimal) {
            return Err(Error::new(ErrorKind::Mapping, "[source] thousands and decimal separators must differ"));
        }
        if let Some(e) = s.encoding.as_deref() {
            m.encoding = Encoding::parse(e).ok_or_else(|| {
                Error::new(
                    ErrorKind::Mapping,
                    format!("[source] encoding {e:?} is not supported (use UTF-8, ISO-8859-1 or Windows-1252)"),
                )
            })?;
        }
        if let Some(tf) = s.timestamp_format {
            check_strftime(&tf)?;
            m.timestamp_format = Some(tf);
        }
        if let Some(tz) = s.timezone {
            jiff::tz::TimeZone::get(&tz).map_err(|e| {
                Error::new(ErrorKind::Mapping, format!("[source] timezone {tz:?} is not an IANA zone: {e}"))
            })?;
            m.timezone = Some(tz);
        }
        let known: Vec<&str> = dataset.columns().iter().map(|(c, _)| *c).collect();
        for (canon, source) in &raw.columns {
            if !known.contains(&canon.as_str()) {
                return Err(Error::new(
                    ErrorKind::Mapping,
                    format!(
                        "[columns] {canon:?} is not a canonical {} column (expected one of: {})",
                        dataset.noun(),
                        known.join(", ")
                    ),
                ));
            }
            if let ColumnRef::Position(0) = source {
                return Err(Error::new(ErrorKind::Mapping, format!("[columns] {canon}: positions start at 1")));
            }
        }
        m.columns = raw.columns;
        Ok(m)
    }
}

fn check_strftime(format: &str) -> Result<(), Error> {
    // Formatting a fixed instant with it catches unknown directives early, with a clear error.
    let probe = jiff::Timestamp::from_second(1_706_708_730).expect("valid").to_zoned_datetime(jiff::tz::TimeZone::UTC);
    jiff::fmt::strtime::format(format, &probe).map(|_| ()).map_err(|e| {
        Error::new(
            ErrorKind::Mapping,
            format!("[source] timestamp_format {format:?} is not a valid strftime format: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_italian_example_parses() {
        let m = Mapping::from_toml(
            r#"
            [source]
            format = "csv"
            delimiter = ";"
            decimal = ","
            encoding = "windows-1252"
            timestamp_format = "%d/%m/%Y %H:%M"
            timezone = "Europe/Rome"
            [columns]
            receipt_id = "SCONTRINO"
            ts = "DATA_ORA"
            store_id = "PDV"
            customer_id = "CARTA"
            sku = "COD_ART"
            quantity = "QTA"
            net_amount = "IMPORTO"
            "#,
            Dataset::Receipts,
        )
        .unwrap();
        assert_eq!(m.delimiter, b';');
        assert_eq!(m.decimal.decimal, b',');
        assert_eq!(m.encoding, Encoding::Windows1252);
        assert_eq!(m.columns["ts"], ColumnRef::Name("DATA_ORA".into()));
    }

    #[test]
    fn mistakes_are_named() {
        let err = |t: &str| Mapping::from_toml(t, Dataset::Receipts).unwrap_err().to_string();
        assert!(err("[columns]\nrecipt_id = \"X\"").contains("\"recipt_id\" is not a canonical receipts column"));
        assert!(err("[source]\nencoding = \"ebcdic\"").contains("not supported"));
        assert!(err("[source]\ntimezone = \"Europe/Atlantis\"").contains("not an IANA zone"));
        assert!(err("[source]\ndecimal = \";\"").contains("decimal must be"));
        assert!(err("[source]\ndelimiter = \";;\"").contains("one ASCII character"));
        assert!(err("[source]\ntimestamp_format = \"%d/%m/%\"").contains("not a valid strftime"));
        assert!(err("[source]\ndecimal = \",\"\nthousands = \",\"").contains("must differ"));
        assert!(err("[sauce]\nx = 1").contains("unknown field"));
    }
}
