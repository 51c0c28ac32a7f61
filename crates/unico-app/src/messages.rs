//! Messages to customers: triggered offers announced by e-mail with the retailer's template
//! (`[messages]` in `unico.toml`), only to customers who agreed to marketing and to e-mail,
//! within the weekly frequency cap, each with a link that withdraws the e-mail consent; and
//! the delivery of the outbox's e-mails through SMTP (lettre), the contact and first name
//! opened at sending time (the outbox holds neither), the consent checked again then.
//! See `docs/messages.md`.

use crate::error::{Code, Error, Result};
use crate::{App, bail};
use serde::Serialize;

/// What one delivery round did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MailReport {
    /// E-mails sent.
    pub sent: usize,
    /// Given up: no address any more, or the consent withdrawn since.
    pub dropped: usize,
    /// To try again (the server did not take them).
    pub retry: usize,
}

/// A retry limit: after this many attempts a message is given up.
pub const MAX_ATTEMPTS: i64 = 8;

impl App {
    /// A link's token that withdraws `customer`'s consent to `channel`: never expires.
    pub fn unsubscribe_token(&self, tenant: &str, customer: i64, channel: &str) -> Result<String> {
        let payload = format!("unsub.{tenant}.{customer}.{channel}");
        let mac = self.store()?.flyer_mac(&payload);
        Ok(format!("{}.{mac}", &payload["unsub.".len()..]))
    }

    /// Withdraws the consent a token names (`<tenant>.<customer>.<channel>.<mac>`, the tenant
    /// checked by the caller): the customer and channel. A forged token is not found.
    pub fn unsubscribe(&self, token: &str) -> Result<(i64, String)> {
        let gone = || Error::new(Code::NotFound, "this link is not valid");
        let (payload, mac) = token.rsplit_once('.').ok_or_else(gone)?;
        let expected = self.store()?.flyer_mac(&format!("unsub.{payload}"));
        if expected.len() != mac.len() || !expected.bytes().zip(mac.bytes()).all(|(a, b)| a == b) {
            return Err(gone());
        }
        let mut parts = payload.rsplitn(3, '.');
        let channel = parts.next().ok_or_else(gone)?.to_string();
        let customer: i64 = parts.next().and_then(|c| c.parse().ok()).ok_or_else(gone)?;
        if channel != "email" && channel != "sms" {
            return Err(gone());
        }
        self.set_consent(&format!("#{customer}"), &channel, false, None, "unsubscribe").map_err(|e| {
            match e.code() {
                Code::CustomerNotFound | Code::NotFound => gone(),
                _ => e,
            }
        })?;
        Ok((customer, channel))
    }

    /// Queues a triggered offer's message for a customer who agreed to marketing: by e-mail
    /// when they agreed to e-mail, else by SMS when they agreed to SMS; within the weekly cap.
    /// Returns whether it was queued.
    pub(crate) fn announce_offer(&self, tenant: &str, customer: i64, offer: &str, valid_to: &str) -> Result<bool> {
        let c = self.current_consents(customer)?;
        let channel = match (c.marketing, c.email, c.sms) {
            (true, true, _) => "email",
            (true, false, true) => "sms",
            _ => return Ok(false),
        };
        let week_ago = unico_store::stamp(jiff::Timestamp::now() - jiff::SignedDuration::from_hours(7 * 24));
        let m = self.settings().messages.clone();
        if self.with_store(async |s| Ok(s.marketing_since(customer, &week_ago).await?))? >= m.max_per_week {
            return Ok(false);
        }
        let base = self.settings().app.public_url.trim_end_matches('/').to_string();
        let flyer = format!("{base}/app/flyer.html#{}", self.flyer_token(tenant, customer)?);
        let unsubscribe = format!("{base}/u/{}", self.unsubscribe_token(tenant, customer, channel)?);
        // `{first_name}` stays: it is filled in when the e-mail is sent.
        let fill = |t: &str| {
            t.replace("{offer}", offer)
                .replace("{valid_to}", valid_to)
                .replace("{flyer_link}", &flyer)
                .replace("{unsubscribe_link}", &unsubscribe)
        };
        let (subject, body) = match channel {
            "email" => (fill(&m.trigger_subject), fill(&m.trigger_body)),
            _ => (String::new(), fill(&m.trigger_sms)),
        };
        self.with_store(async |s| Ok(s.queue_marketing(channel, customer, &subject, &body).await?))?;
        Ok(true)
    }

    /// The SMS waiting to be sent, each ready for the gateway: (outbox id, attempts so far,
    /// phone in E.164, text); those that can no longer go (no phone, the consent withdrawn)
    /// are given up here.
    pub fn sms_to_send(&self, limit: i64) -> Result<Vec<(i64, i64, String, String)>> {
        let pending = self.with_store(async |s| Ok(s.pending_sms(limit).await?))?;
        let mut out = Vec::new();
        for m in pending {
            let Some(Ok(customer)) = m.recipient.strip_prefix("customer:#").map(str::parse::<i64>) else {
                self.with_store(async |s| Ok(s.mail_outcome(m.id, Err((true, "not a customer"))).await?))?;
                continue;
            };
            if m.purpose == "marketing" {
                let c = self.current_consents(customer)?;
                if !(c.marketing && c.sms) {
                    let why = "the consent was withdrawn before sending";
                    self.with_store(async |s| Ok(s.mail_outcome(m.id, Err((true, why))).await?))?;
                    continue;
                }
            }
            let pii = self.with_store(async |s| Ok(s.personal_data(customer).await?))?;
            match pii.and_then(|p| p.phone) {
                Some(phone) => out.push((m.id, m.attempts, phone, m.body)),
                None => self.with_store(async |s| Ok(s.mail_outcome(m.id, Err((true, "no phone on file"))).await?))?,
            }
        }
        Ok(out)
    }

    /// Records an SMS's outcome at the gateway: sent, or to try again (given up after
    /// [`MAX_ATTEMPTS`]).
    pub fn sms_outcome(&self, id: i64, attempts_before: i64, failure: Option<&str>) -> Result<()> {
        let outcome = match failure {
            None => Ok(()),
            Some(why) => Err((attempts_before + 1 >= MAX_ATTEMPTS, why)),
        };
        self.with_store(async |s| Ok(s.mail_outcome(id, outcome).await?))
    }

    /// Sends the outbox's waiting e-mails through `[mail] smtp_url`.
    pub fn deliver_mail(&self) -> Result<MailReport> {
        let url = self.settings().mail.smtp_url.clone();
        if url.is_empty() {
            bail!(Code::SettingsInvalid, "[mail] smtp_url is not set: the e-mails wait in the outbox");
        }
        let from: lettre::message::Mailbox = self
            .settings()
            .mail
            .from
            .parse()
            .map_err(|e| Error::new(Code::SettingsInvalid, format!("[mail] from: {e}")))?;
        let transport = lettre::SmtpTransport::from_url(&url)
            .map_err(|e| Error::new(Code::SettingsInvalid, format!("[mail] smtp_url: {e}")))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let mut report = MailReport::default();
        let pending = self.with_store(async |s| Ok(s.pending_mail(500).await?))?;
        for m in pending {
            let outcome = self.send_one(&transport, &from, &m);
            let recorded = match &outcome {
                Ok(()) => {
                    report.sent += 1;
                    Ok(())
                }
                Err((true, why)) => {
                    report.dropped += 1;
                    Err((true, why.as_str()))
                }
                Err((false, why)) => {
                    report.retry += 1;
                    Err((m.attempts + 1 >= MAX_ATTEMPTS, why.as_str()))
                }
            };
            self.with_store(async |s| Ok(s.mail_outcome(m.id, recorded).await?))?;
        }
        Ok(report)
    }

    /// Sends one e-mail: `Err((permanent, why))` when it is not sent.
    fn send_one(
        &self,
        transport: &lettre::SmtpTransport,
        from: &lettre::message::Mailbox,
        m: &unico_store::messages::PendingMail,
    ) -> std::result::Result<(), (bool, String)> {
        use lettre::Transport;
        let permanent = |why: &str| (true, why.to_string());
        let (to, first_name) = match m.recipient.strip_prefix("customer:#").map(str::parse::<i64>) {
            Some(Ok(customer)) => {
                if m.purpose == "marketing" {
                    let c = self.current_consents(customer).map_err(|e| (false, e.to_string()))?;
                    if !(c.marketing && c.email) {
                        return Err(permanent("the consent was withdrawn before sending"));
                    }
                }
                let pii = self
                    .with_store(async |s| Ok(s.personal_data(customer).await?))
                    .map_err(|e| (false, e.to_string()))?;
                match pii.and_then(|p| p.email.map(|e| (e, p.first_name.unwrap_or_default()))) {
                    Some(x) => x,
                    None => return Err(permanent("no e-mail address on file")),
                }
            }
            _ => (m.recipient.trim_start_matches("mailto:").to_string(), String::new()),
        };
        let to: lettre::message::Mailbox = to.parse().map_err(|_| permanent("not an e-mail address"))?;
        let body = m.body.replace("{first_name}", &first_name);
        let subject = m.subject.replace("{first_name}", &first_name);
        let message = lettre::Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject.trim())
            .body(body)
            .map_err(|e| permanent(&e.to_string()))?;
        transport.send(&message).map(|_| ()).map_err(|e| (e.is_permanent(), e.to_string()))
    }
}
