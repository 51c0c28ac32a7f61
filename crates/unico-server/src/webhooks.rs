//! Delivering the outbox's webhook messages: each is POSTed with its event's JSON as the
//! body and three headers — `X-Unico-Event`, `X-Unico-Delivery` (the message id: a receiver
//! drops repeats by it) and `X-Unico-Signature: t=<unix seconds>,v1=<hex>`, where the hex is
//! HMAC-SHA256 with the subscription's secret over `<t>.<body>` (a receiver recomputes it and
//! refuses old timestamps, so a captured request cannot be replayed later). A 2xx answer
//! delivers it; anything else is retried after `backoff × 2^attempts` (capped at six hours),
//! and after `max_attempts` the message is dead: listed by `GET /api/v1/webhooks/deliveries?
//! state=dead` and sent again by `POST …/{id}/resend`.

use crate::State;
use hmac::{Hmac, Mac};
use std::sync::Arc;
use std::time::Duration;
use unico_app::App;

/// The signature header's value for `body` sent at `t` (unix seconds).
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers due messages of every tenant until the task is aborted.
pub(crate) async fn run(state: Arc<State>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    loop {
        for tenant in state.tenants.values() {
            let (app, hooks, config) = (tenant.app.clone(), agent.clone(), state.config.clone());
            let _ = tokio::task::spawn_blocking(move || deliver_due(&app, &hooks, &config)).await;
            if !tenant.app.settings().sms.webhook_url.is_empty() {
                let (app, gateway) = (tenant.app.clone(), agent.clone());
                let _ = tokio::task::spawn_blocking(move || deliver_sms(&app, &gateway)).await;
            }
        }
        tokio::time::sleep(state.config.webhook_poll).await;
    }
}

fn deliver_due(app: &App, agent: &ureq::Agent, config: &crate::Config) {
    let due = match app.due_deliveries(50) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!("cannot read the webhook outbox: {e}");
            return;
        }
    };
    for (d, secret) in due {
        let t = jiff::Timestamp::now().as_second();
        let sent = agent
            .post(&d.url)
            .header("Content-Type", "application/json")
            .header("X-Unico-Event", &d.event)
            .header("X-Unico-Delivery", &d.id.to_string())
            .header("X-Unico-Signature", &signature(&secret, t, &d.body))
            .send(d.body.as_str());
        let failure = match sent {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("the receiver answered {}", r.status().as_u16())),
            Err(e) => Some(format!("cannot reach the receiver: {e}")),
        };
        let recorded = match &failure {
            None => app.record_attempt(d.id, Ok(())),
            Some(why) => {
                let attempts = d.attempts + 1;
                let next = (attempts < i64::from(config.webhook_max_attempts)).then(|| {
                    let wait = config
                        .webhook_backoff
                        .saturating_mul(1 << attempts.min(20) as u32)
                        .min(Duration::from_secs(6 * 3600));
                    let at = jiff::Timestamp::now() + jiff::SignedDuration::try_from(wait).unwrap_or_default();
                    unico_store::stamp(at)
                });
                metrics::counter!("unico_webhook_failures_total", "event" => d.event.clone()).increment(1);
                app.record_attempt(d.id, Err((why, next.as_deref())))
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(delivery = d.id, "cannot record a webhook attempt: {e}");
        }
        tracing::info!(delivery = d.id, event = %d.event, delivered = failure.is_none(), "webhook");
    }
}

/// Sends the waiting SMS to the retailer's gateway (`[sms]`): each POSTed as JSON
/// `{"id", "to", "text"}`, signed like the event webhooks. The log names the message only.
fn deliver_sms(app: &App, agent: &ureq::Agent) {
    let (url, secret) = (app.settings().sms.webhook_url.clone(), app.settings().sms.secret.clone());
    let due = match app.sms_to_send(50) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!("cannot read the SMS outbox: {e}");
            return;
        }
    };
    for (id, attempts, to, text) in due {
        let body = serde_json::json!({"id": id, "to": to, "text": text}).to_string();
        let t = jiff::Timestamp::now().as_second();
        let sent = agent
            .post(&url)
            .header("Content-Type", "application/json")
            .header("X-Unico-Delivery", &id.to_string())
            .header("X-Unico-Signature", &signature(&secret, t, &body))
            .send(body.as_str());
        let failure = match sent {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("the gateway answered {}", r.status().as_u16())),
            Err(e) => Some(format!("cannot reach the gateway: {e}")),
        };
        if let Err(e) = app.sms_outcome(id, attempts, failure.as_deref()) {
            tracing::warn!(message = id, "cannot record an SMS attempt: {e}");
        }
        tracing::info!(message = id, sent = failure.is_none(), "sms");
    }
}
