//! What KPIs, goals and campaign measurement read from and write to the operational store:
//! offer activations and redemptions, survey answers, goals and the outbox.

use crate::{Error, ErrorKind, Store, now};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// One survey answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveyAnswer {
    /// The answer's id in the survey tool (re-importing it adds nothing).
    pub id: String,
    /// When it was given (RFC 3339 instant).
    pub answered_at: String,
    /// The chain's calendar day it was given on (YYYY-MM-DD).
    pub answered_on: String,
    /// `csat` (1–5) or `nps` (0–10).
    pub question: String,
    /// The score.
    pub score: i64,
    /// The customer's lake key, when known.
    pub customer_key: Option<String>,
    /// The store it is about.
    pub store_id: Option<String>,
    /// Where it was given (`app`, `email`, `store`…).
    pub channel: Option<String>,
    /// Free text.
    pub comment: Option<String>,
}

/// An offer as KPIs count it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferEvent {
    /// The customer's lake key.
    pub customer_key: String,
    /// First day of validity.
    pub valid_from: String,
    /// When it was activated.
    pub activated_at: Option<String>,
    /// When it was redeemed.
    pub redeemed_at: Option<String>,
    /// Discount given at redemption, cents.
    pub redeemed_discount_cents: Option<i64>,
    /// The member's segment and preferred store in the campaign.
    pub segment: Option<String>,
    /// Preferred store.
    pub store_id: Option<String>,
}

/// A campaign member as measurement reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberRow {
    /// The customer's lake key.
    pub customer_key: String,
    /// `personal`, `generic`, `no_offer` or `holdout`.
    pub status: String,
    /// Segment at planning time.
    pub segment: String,
    /// Preferred store.
    pub store_id: Option<String>,
    /// `personal` or `generic`: what they get or, held out, would have got.
    pub offer_type: String,
}

/// A goal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    /// Its number.
    pub id: i64,
    /// The KPI's name.
    pub kpi: String,
    /// The target value (KPI units).
    pub target: f64,
    /// The deadline (YYYY-MM-DD).
    pub deadline: String,
    /// `all`, `store` or `segment`.
    pub scope_kind: String,
    /// The store id or segment name.
    pub scope_value: Option<String>,
    /// `daily` or `weekly`.
    pub review: String,
    /// Where alerts go: `mailto:…` and `https://…` addresses, comma-separated.
    pub notify: String,
    /// The state it was last found in.
    pub state: Option<String>,
    /// The day it was last checked.
    pub checked_on: Option<String>,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxMessage {
    /// Its number.
    pub id: i64,
    /// When it was written.
    pub created_at: String,
    /// `email` or `webhook`.
    pub kind: String,
    /// The address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Body (plain text for e-mail, JSON for a webhook).
    pub body: String,
    /// When it was sent.
    pub sent_at: Option<String>,
}

impl Store {
    /// Stores survey answers; an answer whose id is already stored is skipped. Returns how
    /// many were new.
    pub async fn add_survey_answers(&self, answers: &[SurveyAnswer]) -> Result<u64, Error> {
        let mut tx = self.write_tx().await?;
        let stamp = now();
        let mut added = 0;
        for a in answers {
            let r = sqlx::query(
                "INSERT INTO survey_answers (id, answered_at, answered_on, question, score, customer_key, store_id, channel, \
                 comment, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&a.id)
            .bind(&a.answered_at)
            .bind(&a.answered_on)
            .bind(&a.question)
            .bind(a.score)
            .bind(a.customer_key.clone())
            .bind(a.store_id.clone())
            .bind(a.channel.clone())
            .bind(a.comment.clone())
            .bind(&stamp)
            .execute(&mut *tx)
            .await?;
            added += r.rows_affected();
        }
        Store::audit(&mut *tx, "import_surveys", None, &format!("{{\"answers\":{},\"added\":{added}}}", answers.len()))
            .await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Survey answers given from `from` to `to` (YYYY-MM-DD, inclusive).
    pub async fn survey_answers(&self, from: &str, to: &str) -> Result<Vec<SurveyAnswer>, Error> {
        let rows = sqlx::query(
            "SELECT id, answered_at, answered_on, question, score, customer_key, store_id, channel, comment \
             FROM survey_answers WHERE answered_on >= $1 AND answered_on <= $2 ORDER BY answered_on, id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SurveyAnswer {
                    id: r.try_get(0)?,
                    answered_at: r.try_get(1)?,
                    answered_on: r.try_get(2)?,
                    question: r.try_get(3)?,
                    score: r.try_get(4)?,
                    customer_key: r.try_get(5)?,
                    store_id: r.try_get(6)?,
                    channel: r.try_get(7)?,
                    comment: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Offers issued, activated or redeemed from `from` to `to` (YYYY-MM-DD, inclusive),
    /// with their member's segment and store.
    pub async fn offer_events(&self, from: &str, to: &str) -> Result<Vec<OfferEvent>, Error> {
        // Timestamps compare with days as text: `to` is extended past any time of that day.
        let to_end = format!("{to}T99");
        let rows = sqlx::query(
            "SELECT o.customer_key, o.valid_from, o.activated_at, o.redeemed_at, o.redeemed_discount_cents, m.segment, m.store_id \
             FROM offers o LEFT JOIN campaign_members m ON m.campaign_id = o.campaign_id AND m.customer_key = o.customer_key \
             WHERE (o.valid_from >= $1 AND o.valid_from <= $2) OR (o.activated_at >= $1 AND o.activated_at <= $3) \
             OR (o.redeemed_at >= $1 AND o.redeemed_at <= $3)",
        )
        .bind(from)
        .bind(to)
        .bind(&to_end)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OfferEvent {
                    customer_key: r.try_get(0)?,
                    valid_from: r.try_get(1)?,
                    activated_at: r.try_get(2)?,
                    redeemed_at: r.try_get(3)?,
                    redeemed_discount_cents: r.try_get(4)?,
                    segment: r.try_get(5)?,
                    store_id: r.try_get(6)?,
                })
            })
            .collect()
    }

    /// Marks an offer activated (booked in the app) at `at`, once: returns false when it was
    /// already activated or does not exist.
    pub async fn activate_offer(&self, code: &str, at: &str) -> Result<bool, Error> {
        let mut tx = self.write_tx().await?;
        let r = sqlx::query("UPDATE offers SET activated_at = $1 WHERE code = $2 AND activated_at IS NULL")
            .bind(at)
            .bind(code)
            .execute(&mut *tx)
            .await?;
        Store::pos_changed_offer(&mut tx, code).await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Marks an offer redeemed at `at` with the discount it gave, once: the update only
    /// touches an offer not redeemed yet, so two tills confirming the same code at the same
    /// moment cannot both succeed. Returns whether this call redeemed it.
    pub async fn redeem_offer(&self, code: &str, at: &str, discount_cents: i64) -> Result<bool, Error> {
        let mut tx = self.write_tx().await?;
        let r = sqlx::query(
            "UPDATE offers SET redeemed_at = $1, redeemed_discount_cents = $2 WHERE code = $3 AND redeemed_at IS NULL",
        )
        .bind(at)
        .bind(discount_cents)
        .bind(code)
        .execute(&mut *tx)
        .await?;
        Store::pos_changed_offer(&mut tx, code).await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Campaigns whose validity overlaps `from`..`to`: (id, valid_from, valid_to).
    pub async fn campaigns_between(&self, from: &str, to: &str) -> Result<Vec<(String, String, String)>, Error> {
        Ok(sqlx::query_as(
            "SELECT id, valid_from, valid_to FROM campaigns WHERE valid_from <= $2 AND valid_to >= $1 ORDER BY valid_from, id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A campaign's members.
    pub async fn members_of(&self, campaign: &str) -> Result<Vec<MemberRow>, Error> {
        let rows = sqlx::query(
            "SELECT customer_key, status, segment, store_id, offer_type FROM campaign_members WHERE campaign_id = $1 \
             ORDER BY customer_key",
        )
        .bind(campaign)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MemberRow {
                    customer_key: r.try_get(0)?,
                    status: r.try_get(1)?,
                    segment: r.try_get(2)?,
                    store_id: r.try_get(3)?,
                    offer_type: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// The codes of a campaign's offers redeemed (at a till or imported), by code.
    pub async fn redeemed_codes(&self, campaign: &str) -> Result<Vec<String>, Error> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT code FROM offers WHERE campaign_id = $1 AND redeemed_at IS NOT NULL ORDER BY code")
                .bind(campaign)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// A campaign's redemptions: (redeemed offers, discount given in cents).
    pub async fn campaign_redemptions(&self, campaign: &str) -> Result<(i64, i64), Error> {
        let r: (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), CAST(SUM(redeemed_discount_cents) AS BIGINT) FROM offers WHERE campaign_id = $1 AND redeemed_at IS NOT NULL",
        )
        .bind(campaign)
        .fetch_one(&self.pool)
        .await?;
        Ok((r.0, r.1.unwrap_or(0)))
    }

    /// Adds a goal; returns its number.
    pub async fn add_goal(&self, g: &Goal) -> Result<i64, Error> {
        let mut tx = self.write_tx().await?;
        let id: (i64,) = sqlx::query_as(
            "INSERT INTO goals (kpi, target, deadline, scope_kind, scope_value, review, notify, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(&g.kpi)
        .bind(g.target)
        .bind(&g.deadline)
        .bind(&g.scope_kind)
        .bind(g.scope_value.clone())
        .bind(&g.review)
        .bind(&g.notify)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        Store::audit(&mut *tx, "add_goal", None, &format!("{{\"goal\":{},\"kpi\":{:?}}}", id.0, g.kpi)).await?;
        tx.commit().await?;
        Ok(id.0)
    }

    /// Every goal, by number.
    pub async fn goals(&self) -> Result<Vec<Goal>, Error> {
        let rows = sqlx::query(
            "SELECT id, kpi, target, deadline, scope_kind, scope_value, review, notify, state, checked_on FROM goals ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Goal {
                    id: r.try_get(0)?,
                    kpi: r.try_get(1)?,
                    target: r.try_get(2)?,
                    deadline: r.try_get(3)?,
                    scope_kind: r.try_get(4)?,
                    scope_value: r.try_get(5)?,
                    review: r.try_get(6)?,
                    notify: r.try_get(7)?,
                    state: r.try_get(8)?,
                    checked_on: r.try_get(9)?,
                })
            })
            .collect()
    }

    /// Records a goal's state on `day`; when it differs from the state stored, the alerts
    /// (`(kind, recipient, subject, body)`) go to the outbox in the same transaction, so a
    /// change is announced once and never lost.
    pub async fn record_goal_state(
        &self,
        id: i64,
        state: &str,
        day: &str,
        alerts: &[(String, String, String, String)],
    ) -> Result<bool, Error> {
        let mut tx = self.write_tx().await?;
        let old: Option<(Option<String>,)> =
            sqlx::query_as("SELECT state FROM goals WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
        let Some((old,)) = old else {
            return Err(Error::new(ErrorKind::NotFound, format!("no goal {id}")));
        };
        let changed = old.as_deref() != Some(state);
        sqlx::query("UPDATE goals SET state = $1, checked_on = $2 WHERE id = $3")
            .bind(state)
            .bind(day)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if changed {
            for (kind, recipient, subject, body) in alerts {
                sqlx::query(
                    "INSERT INTO outbox (created_at, kind, recipient, subject, body) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(now())
                .bind(kind)
                .bind(recipient)
                .bind(subject)
                .bind(body)
                .execute(&mut *tx)
                .await?;
            }
            let event = serde_json::json!({"goal_id": id, "state": state, "previous": old, "day": day});
            Store::emit(&mut tx, "goal.changed", &event).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Messages in the outbox, oldest first; only unsent ones unless `all`.
    pub async fn outbox(&self, all: bool) -> Result<Vec<OutboxMessage>, Error> {
        let sql = if all {
            "SELECT id, created_at, kind, recipient, subject, body, sent_at FROM outbox WHERE kind <> 'webhook' ORDER BY id"
        } else {
            "SELECT id, created_at, kind, recipient, subject, body, sent_at FROM outbox WHERE sent_at IS NULL AND kind <> 'webhook' ORDER BY id"
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxMessage {
                    id: r.try_get(0)?,
                    created_at: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    recipient: r.try_get(3)?,
                    subject: r.try_get(4)?,
                    body: r.try_get(5)?,
                    sent_at: r.try_get(6)?,
                })
            })
            .collect()
    }
}

/// How a survey file is read.
#[derive(Clone)]
pub struct SurveyImportOptions {
    /// Turns the card in `customer_id` into the lake's key.
    pub pseudonymiser: unico_core::Pseudonymiser,
    /// Column names, format, time zone of the file.
    pub mapping: unico_lake::mapping::Mapping,
    /// Where the rejects file goes.
    pub rejects_dir: std::path::PathBuf,
    /// The chain's time zone (what day an answer counts on).
    pub chain_tz: jiff::tz::TimeZone,
    /// Refuse the file when more than this share of rows is rejected.
    pub max_reject_rate: Option<f64>,
}

/// Imports survey answers: every row is validated (an id, a timestamp, `csat` with a score
/// from 1 to 5 or `nps` from 0 to 10), rejected rows go to `rejects/<import-id>.csv` with
/// their line and reason, the rest is stored in one transaction, and answers already stored
/// (same id) are skipped, so re-running an import adds nothing.
pub async fn import_surveys(
    store: &Store,
    path: &std::path::Path,
    options: &SurveyImportOptions,
) -> Result<unico_lake::import::ImportSummary, Error> {
    use unico_lake::import::{
        ImportSummary, Reason, RejectsWriter, check_outcome, new_import_id, open_source, resolve,
    };
    use unico_lake::mapping::Dataset;
    use unico_lake::source::Value;
    let import_id = new_import_id(Dataset::Surveys);
    let started_at = now();
    let mut source = open_source(path, &options.mapping)?;
    let cols = resolve(Dataset::Surveys, &options.mapping, source.columns())?;
    let source_tz = match &options.mapping.timezone {
        Some(name) => jiff::tz::TimeZone::get(name)
            .map_err(|e| Error::new(ErrorKind::Input, format!("time zone {name:?}: {e}")))?,
        None => options.chain_tz.clone(),
    };
    let mut ts = unico_lake::parse::TimestampParser::new(
        options.mapping.timestamp_format.clone(),
        source_tz,
        options.chain_tz.clone(),
    );
    let names = Dataset::Surveys.columns();
    let col = |name: &str| cols[names.iter().position(|(n, _)| *n == name).expect("a surveys column")];
    let mut rejects = RejectsWriter::new(options.rejects_dir.join(format!("{import_id}.csv")));
    let mut answers: Vec<SurveyAnswer> = Vec::new();
    let mut seen: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut rows_read = 0u64;
    source.for_each(&mut |row| {
        rows_read += 1;
        let line = row.line();
        if row.problem().is_some() {
            return rejects.reject(line, "", "", Reason::MalformedRecord, "wrong number of fields", "");
        }
        let text = |c: Option<usize>| -> Option<String> {
            let v = row.get(c?).ok()?;
            if v.is_blank() {
                return None;
            }
            Some(match v {
                Value::Text(t) => t.trim().to_string(),
                other => other.display(),
            })
        };
        let Some(id) = text(col("answer_id")) else {
            return rejects.reject(line, "answer_id", "", Reason::MissingValue, "the answer has no id", "");
        };
        let Some(at_col) = col("answered_at") else { unreachable!("a required column is resolved") };
        let at = match row.get(at_col) {
            Ok(v) if !v.is_blank() => match ts.parse(&v) {
                Ok(t) => t,
                Err(m) => return rejects.reject(line, "answered_at", &v.display(), Reason::BadTimestamp, &m, ""),
            },
            _ => return rejects.reject(line, "answered_at", "", Reason::MissingValue, "answered_at is empty", ""),
        };
        let question = text(col("question")).unwrap_or_default().to_ascii_lowercase();
        let range = match question.as_str() {
            "csat" => 1..=5,
            "nps" => 0..=10,
            _ => {
                return rejects.reject(
                    line,
                    "question",
                    &question,
                    Reason::OutOfRange,
                    "the question is csat or nps",
                    "",
                );
            }
        };
        let raw = text(col("score")).unwrap_or_default();
        let score = match raw.parse::<i64>() {
            Ok(s) if range.contains(&s) => s,
            Ok(_) => {
                let m = if question == "csat" { "a CSAT score is 1 to 5" } else { "an NPS score is 0 to 10" };
                return rejects.reject(line, "score", &raw, Reason::OutOfRange, m, "");
            }
            Err(_) => {
                return rejects.reject(line, "score", &raw, Reason::BadNumber, "the score is not a whole number", "");
            }
        };
        if let Some(first) = seen.get(&id) {
            let m = format!("the same answer_id appears at line {first}");
            return rejects.reject(line, "answer_id", &id, Reason::DuplicateKey, &m, "");
        }
        seen.insert(id.clone(), line);
        answers.push(SurveyAnswer {
            id,
            answered_at: at.0.to_string(),
            answered_on: at.1.to_string(),
            question,
            score,
            customer_key: text(col("customer_id")).map(|card| options.pseudonymiser.key(&card).to_hex()),
            store_id: text(col("store_id")),
            channel: text(col("channel")),
            comment: text(col("comment")),
        });
        Ok(())
    })?;
    let (rejects_file, rejected) = rejects.finish()?;
    let mut summary = ImportSummary {
        import_id,
        dataset: "surveys".into(),
        file: path.display().to_string(),
        started_at,
        rows_read,
        rows_imported: 0,
        rows_already_in_lake: 0,
        rows_updated: 0,
        rejected,
        warnings: Default::default(),
        rejects_file: rejects_file.map(|p| p.display().to_string()),
        months: Vec::new(),
    };
    // Checked before anything is stored: a file over its reject limit stores nothing.
    summary.rows_imported = answers.len() as u64;
    check_outcome(&summary, options.max_reject_rate)?;
    let added = store.add_survey_answers(&answers).await?;
    summary.rows_imported = added;
    summary.rows_already_in_lake = answers.len() as u64 - added;
    Ok(summary)
}
