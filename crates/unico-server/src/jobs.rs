//! Long work as jobs (Meilisearch's task queue is the anchor): the request is recorded
//! `queued` in the tenant's store and answered 202 with the job's id; the work runs on a
//! blocking thread, reporting its step and progress to the store (at most every half
//! second); it ends `done` with its result or `failed` with its error. A job the server
//! was running when it stopped is marked failed (`job.interrupted`) at the next start —
//! never left as a silent half: the operations publish whole or not at all.

use crate::auth::Ctx;
use crate::error::ApiResult;
use crate::routes::blocking;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use unico_app::{App, Progress, Unit};
use utoipa::ToSchema;

/// A job accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The job's id.
    pub job: String,
    /// Where to follow it.
    pub status_url: String,
}

/// Progress written to the store, throttled.
struct JobProgress<'a> {
    app: &'a App,
    id: &'a str,
    state: Mutex<(String, Instant)>,
}

impl JobProgress<'_> {
    fn save(&self, step: Option<&str>, done: u64, total: u64, force: bool) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(step) = step {
            s.0 = step.to_string();
        }
        if force || s.1.elapsed() >= Duration::from_millis(500) {
            s.1 = Instant::now();
            // Progress is advisory: a failure to record it does not fail the job.
            let _ = self.app.job_progress(self.id, &s.0, done, total);
        }
    }
}

impl Progress for JobProgress<'_> {
    fn begin(&self, step: &str, _unit: Unit, total: u64) {
        self.save(Some(step), 0, total, true);
    }
    fn update(&self, done: u64, total: u64) {
        self.save(None, done, total, false);
    }
    fn message(&self, text: &str) {
        self.save(Some(text), 0, 0, true);
    }
    fn finish(&self) {}
}

/// Records a job and runs `work` in the background; answers 202 with its id.
pub async fn spawn(
    ctx: &Ctx,
    kind: &'static str,
    request: serde_json::Value,
    pause: Option<Duration>,
    work: impl FnOnce(&App, &dyn Progress) -> unico_app::Result<serde_json::Value> + Send + 'static,
) -> ApiResult<Response> {
    let id = start(ctx, kind, request, pause, work).await?;
    let status_url = format!("/api/v1/jobs/{id}");
    Ok((StatusCode::ACCEPTED, axum::Json(Accepted { job: id, status_url })).into_response())
}

/// Records a job and runs `work` in the background; returns its id.
pub async fn start(
    ctx: &Ctx,
    kind: &'static str,
    request: serde_json::Value,
    pause: Option<Duration>,
    work: impl FnOnce(&App, &dyn Progress) -> unico_app::Result<serde_json::Value> + Send + 'static,
) -> ApiResult<String> {
    let id =
        format!("{}-{}", jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%6f"), hex::encode(rand::random::<[u8; 4]>()));
    let app = ctx.tenant.app.clone();
    let (job, caller) = (id.clone(), ctx.caller.clone());
    blocking(move || app.insert_job(&job, kind, &request, &caller)).await?;
    let app = ctx.tenant.app.clone();
    let job = id.clone();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        if app.start_job(&job).is_err() {
            return;
        }
        if let Some(p) = pause {
            std::thread::sleep(p);
        }
        let progress = JobProgress { app: &app, id: &job, state: Mutex::new((String::new(), Instant::now())) };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&app, &progress)));
        let (state, result) = match outcome {
            Ok(Ok(v)) => ("done", Ok(v)),
            Ok(Err(e)) => ("failed", Err(error_json(&crate::ApiError::from(e)))),
            Err(_) => {
                ("failed", Err(serde_json::json!({"code": "internal", "message": "the job failed unexpectedly"})))
            }
        };
        metrics::histogram!("unico_job_duration_seconds", "kind" => kind, "state" => state)
            .record(started.elapsed().as_secs_f64());
        if let Err(e) = app.finish_job(&job, result.as_ref()) {
            tracing::error!(job = %job, "cannot record the end of a job: {e}");
        }
    });
    Ok(id)
}

fn error_json(e: &crate::ApiError) -> serde_json::Value {
    serde_json::json!({"code": e.code.as_str(), "message": e.message})
}
