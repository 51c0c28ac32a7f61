//! The routes: each parses its request, calls one operation of the service layer on a
//! blocking thread, and answers JSON. Who may call each is in [`crate::access::MATRIX`].

use crate::auth::{self, Ctx, own_store};
use crate::error::{ApiError, ApiResult};
use crate::{State, jobs, observe};
use axum::extract::{Multipart, Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use unico_app::Code;
use unico_app::staff::{AuditEntry, CampaignState, Delivery, Job, Role, User, Webhook};
use utoipa::{IntoParams, ToSchema};

type Q<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// The router: every route, the role check, the observation layer, limits and fallbacks.
pub fn router(state: Arc<State>) -> Router {
    let limit = state.config.max_body_bytes;
    let timeout = state.config.request_timeout;
    let api = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/users", get(users).post(add_user))
        .route("/api/v1/users/{email}/disable", post(disable_user))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/webhooks", get(webhooks).post(add_webhook))
        .route("/api/v1/webhooks/{id}", axum::routing::delete(remove_webhook))
        .route("/api/v1/webhooks/deliveries", get(deliveries))
        .route("/api/v1/webhooks/deliveries/{id}/resend", post(resend))
        .route("/api/v1/jobs", get(jobs_list))
        .route("/api/v1/jobs/{id}", get(job))
        .route("/api/v1/quality", get(quality))
        .route("/api/v1/model", get(model))
        .route("/api/v1/model/build", post(model_build))
        .route("/api/v1/recommendations", post(recommend))
        .route("/api/v1/exports", get(exports))
        .route("/api/v1/exports/{name}", get(download))
        .route("/api/v1/policies/validate", post(validate_policy))
        .route("/api/v1/policies", get(policies))
        .route("/api/v1/policies/{id}", get(policy))
        .route("/api/v1/campaigns", get(campaigns))
        .route("/api/v1/campaigns/plan", post(plan))
        .route("/api/v1/campaigns/{id}/publish", post(publish))
        .route("/api/v1/campaigns/{id}/stop", post(stop))
        .route("/api/v1/campaigns/{id}/measure", get(measure))
        .route("/api/v1/kpis", get(kpis))
        .route("/api/v1/goals", get(goals).post(add_goal))
        .route("/api/v1/outbox", get(outbox))
        .route("/api/v1/customers/lookup", post(lookup))
        .route("/api/v1/customers/{id}", get(customer).delete(erase))
        .route("/api/v1/customers/{id}/profile", get(profile))
        .route("/api/v1/customers/{id}/consents/{purpose}", put(consent))
        .route("/api/v1/customers/{id}/export", get(export))
        .route("/api/v1/duplicates", get(duplicates))
        .route("/api/v1/duplicates/merge", post(merge))
        .route("/api/v1/duplicates/unmerge", post(unmerge))
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout));
    // Uploads stream for as long as the client sends (up to the body limit): no timeout.
    // The tills' API: small bodies (a basket of 1,000 lines is well under 1 MiB).
    let tills = Router::new()
        .route("/api/v1/pos/evaluate", post(crate::pos::evaluate))
        .route("/api/v1/pos/confirm", post(crate::pos::confirm))
        .route("/api/v1/pos/void", post(crate::pos::void))
        .route("/api/v1/pos/refund", post(crate::pos::refund))
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout))
        .layer(axum::extract::DefaultBodyLimit::max(limit.min(2 * 1024 * 1024)));
    use crate::shopper as sh;
    let shoppers = Router::new()
        .route("/api/v1/privacy/policies", post(sh::publish_policy))
        .route("/api/v1/promotions", get(sh::promotions).post(sh::add_promotions))
        .route("/api/v1/flyer/send", post(sh::send_flyers))
        .route("/api/v1/tickets", get(sh::store_tickets))
        .route("/api/v1/tickets/{id}", get(sh::store_ticket))
        .route("/api/v1/tickets/{id}/reply", post(sh::store_reply))
        .route("/api/v1/app/register", post(sh::register))
        .route("/api/v1/app/register/confirm", post(sh::confirm))
        .route("/api/v1/app/login", post(sh::login))
        .route("/api/v1/app/privacy", get(sh::privacy))
        .route("/api/v1/app/flyer/shared/{token}", get(sh::shared_flyer))
        .route("/u/{token}", get(sh::unsubscribe))
        .route("/api/v1/app/logout", post(sh::logout))
        .route("/api/v1/app/me", get(sh::me).delete(sh::delete_me))
        .route("/api/v1/app/offers", get(sh::offers))
        .route("/api/v1/app/offers/{code}/activate", post(sh::activate))
        .route("/api/v1/app/consents", put(sh::consents))
        .route("/api/v1/app/privacy/accept", post(sh::accept))
        .route("/api/v1/app/export", get(sh::export))
        .route("/api/v1/app/store", put(sh::set_store))
        .route("/api/v1/app/stores", get(sh::stores))
        .route("/api/v1/app/products", get(sh::products))
        .route("/api/v1/app/flyer", get(sh::flyer))
        .route("/api/v1/app/flyer/send", post(sh::send_flyer))
        .route("/api/v1/app/flyer/link", post(sh::flyer_link))
        .route("/api/v1/app/tickets", get(sh::tickets).post(sh::open_ticket))
        .route("/api/v1/app/tickets/{id}", get(sh::ticket))
        .route("/api/v1/app/tickets/{id}/messages", post(sh::reply))
        .route("/api/v1/app/surveys", post(sh::survey))
        .route("/api/v1/app/catalogue", get(crate::orders::catalogue))
        .route("/api/v1/app/basket", post(crate::orders::basket))
        .route("/api/v1/app/stores/{store_id}/slots", get(crate::orders::app_slots))
        .route("/api/v1/app/orders", get(crate::orders::app_orders).post(crate::orders::place))
        .route("/api/v1/app/orders/{id}", get(crate::orders::app_order))
        .route("/api/v1/app/orders/{id}/cancel", post(crate::orders::cancel))
        .route("/api/v1/slots", get(crate::orders::slots).post(crate::orders::add_slots))
        .route("/api/v1/slots/{id}", put(crate::orders::set_capacity))
        .route("/api/v1/orders", get(crate::orders::orders))
        .route("/api/v1/orders/{id}", get(crate::orders::order))
        .route("/api/v1/orders/{id}/lines/{line_no}", post(crate::orders::pick))
        .route("/api/v1/orders/{id}/ready", post(crate::orders::ready))
        .route("/api/v1/orders/{id}/collected", post(crate::orders::collected))
        .route("/api/v1/orders/{id}/not-collected", post(crate::orders::not_collected))
        .route("/app", get(crate::web::app_root))
        .route("/app/", get(crate::web::app_index))
        .route("/app/{file}", get(crate::web::app_file))
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout))
        .layer(axum::extract::DefaultBodyLimit::max(limit.min(1024 * 1024)));
    let uploads = Router::new()
        // A small body that is not an upload is read before the multipart extractor refuses
        // it, so the refusal leaves the connection usable.
        .route(
            "/api/v1/imports/{dataset}",
            post(import).layer(axum::middleware::from_fn(crate::office::read_small_body)),
        )
        .route(
            "/api/v1/campaigns/{id}/learn",
            post(learn).layer(axum::middleware::from_fn(crate::office::read_small_body)),
        )
        .route(
            "/office/data/upload",
            post(crate::office::upload).layer(axum::middleware::from_fn(crate::office::read_small_body)),
        );
    let office = crate::office::routes()
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout));
    api.merge(tills)
        .merge(shoppers)
        .merge(uploads)
        .merge(office)
        // Innermost first: the role check runs after routing (it reads the matched route),
        // the observation around it.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authorize))
        .route_layer(axum::middleware::from_fn(observe::observe))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(one_error_shape))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::new(Code::Internal, "the server failed on this request; it has been logged").into_response()
        }))
        .with_state(state)
}

/// Answers axum or a layer made (a path that does not parse, a timeout, a body over the
/// limit) get the same error body as every other.
async fn one_error_shape(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    // JSON errors, and the back office's error pages, are already in their shape.
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.map(|b| String::from_utf8_lossy(&b).into_owned());
    let code = match status.as_u16() {
        413 => Code::PayloadTooLarge,
        404 => Code::NotFound,
        401 => Code::Unauthorized,
        403 => Code::Forbidden,
        400..=499 => Code::InputInvalid,
        _ => Code::Internal,
    };
    let message = match text {
        Ok(t) if !t.trim().is_empty() => t,
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let mut out = ApiError::new(code, message).into_response();
    *out.status_mut() = parts.status;
    out
}

async fn not_found() -> ApiError {
    ApiError::new(Code::NotFound, "no such route")
}

async fn method_not_allowed() -> Response {
    let mut r = ApiError::new(Code::InputInvalid, "this route does not take this method").into_response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

/// Runs a service-layer call on tokio's blocking threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> unico_app::Result<T> + Send + 'static) -> ApiResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(_) => Err(ApiError::new(Code::Internal, "the operation failed unexpectedly")),
    }
}

/// Parses a JSON body; a bad one is a 400 naming the field when it can.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::new(Code::InputInvalid, "a JSON body is required"));
    }
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        let field = text.split('`').nth(1).map(str::to_string);
        let mut err = ApiError::new(Code::InputInvalid, format!("the body is not valid: {text}"));
        err.field = field;
        err
    })
}

fn query<T>(q: Q<T>) -> ApiResult<T> {
    q.map(|Query(t)| t).map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))
}

fn app(ctx: &Ctx) -> Arc<unico_app::App> {
    ctx.tenant.app.clone()
}

fn value<T: serde::Serialize>(t: &T) -> unico_app::Result<serde_json::Value> {
    serde_json::to_value(t).map_err(|e| unico_app::Error::new(Code::Internal, e.to_string()))
}

// ---- health, metrics, the API description ----

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Object)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: every tenant's store answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Object), (status = 500, body = crate::error::ErrorBody)))]
async fn readyz(axum::extract::State(state): axum::extract::State<Arc<State>>) -> ApiResult<Json<serde_json::Value>> {
    for t in state.tenants.values() {
        let app = t.app.clone();
        blocking(move || app.jobs(1)).await?;
    }
    Ok(Json(serde_json::json!({"status": "ready", "tenants": state.tenants.len()})))
}

/// `GET /metrics`: Prometheus text.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, body = String, content_type = "text/plain")))]
async fn metrics(axum::extract::State(state): axum::extract::State<Arc<State>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health", responses((status = 200, body = Object)))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

// ---- users and audit ----

/// `GET /api/v1/users`.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = [UserBody]), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
async fn users(Extension(ctx): Extension<Ctx>) -> ApiResult<Json<Vec<User>>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || app.users()).await?))
}

/// A user as the API shows it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct UserBody {
    id: i64,
    email: String,
    role: String,
    store_id: Option<String>,
    created_at: String,
    disabled_at: Option<String>,
}

/// A user to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    /// Login e-mail.
    email: String,
    /// `admin`, `marketing`, `store_manager` or `support`.
    role: String,
    /// A store manager's store.
    store_id: Option<String>,
    /// At least 12 characters; none: one is generated and returned once.
    password: Option<String>,
}

/// `POST /api/v1/users`.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = Object), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn add_user(Extension(ctx): Extension<Ctx>, body: axum::body::Bytes) -> ApiResult<Response> {
    let new: NewUser = json(&body)?;
    let role = Role::parse(&new.role).ok_or_else(|| {
        ApiError::new(Code::InputInvalid, "role is admin, marketing, store_manager or support").field("role")
    })?;
    let app = app(&ctx);
    let added =
        blocking(move || app.add_user(&new.email, role, new.store_id.as_deref(), new.password.as_deref(), &ctx.caller))
            .await?;
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

/// `POST /api/v1/users/{email}/disable`.
#[utoipa::path(post, path = "/api/v1/users/{email}/disable", tag = "users", security(("bearer" = [])),
    params(("email" = String, Path)),
    responses((status = 200, body = UserBody), (status = 404, body = crate::error::ErrorBody)))]
async fn disable_user(Extension(ctx): Extension<Ctx>, Path(email): Path<String>) -> ApiResult<Json<User>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || app.disable_user(&email, &ctx.caller)).await?))
}

/// Paging of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Entries (1–1000, default 100).
    limit: Option<i64>,
    /// Entries older than this id.
    before: Option<i64>,
}

/// An audit entry as the API shows it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct AuditBody {
    id: i64,
    at: String,
    actor: Option<String>,
    origin: Option<String>,
    action: String,
    customer_id: Option<i64>,
    details: String,
}

/// `GET /api/v1/audit`: who did what, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "users", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = [AuditBody])))]
async fn audit(Extension(ctx): Extension<Ctx>, q: Q<AuditQuery>) -> ApiResult<Json<Vec<AuditEntry>>> {
    let q = query(q)?;
    let app = app(&ctx);
    Ok(Json(blocking(move || app.audit_log(q.limit.unwrap_or(100), q.before)).await?))
}

// ---- jobs ----

/// A job as the API shows it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct JobBody {
    id: String,
    kind: String,
    /// `queued`, `running`, `done` or `failed`.
    state: String,
    step: String,
    done: i64,
    total: i64,
    request: Object,
    result: Option<Object>,
    error: Option<Object>,
    created_by: String,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
}

/// Any JSON object.
#[derive(ToSchema)]
struct Object;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Limit {
    /// At most this many (1–1000, default 50).
    limit: Option<i64>,
}

/// `GET /api/v1/jobs`: the latest jobs.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", security(("bearer" = [])), params(Limit),
    responses((status = 200, body = [JobBody])))]
async fn jobs_list(Extension(ctx): Extension<Ctx>, q: Q<Limit>) -> ApiResult<Json<Vec<Job>>> {
    let q = query(q)?;
    let app = app(&ctx);
    Ok(Json(blocking(move || app.jobs(q.limit.unwrap_or(50))).await?))
}

/// `GET /api/v1/jobs/{id}`: a job's state, progress and result or error.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = JobBody), (status = 404, body = crate::error::ErrorBody)))]
async fn job(Extension(ctx): Extension<Ctx>, Path(id): Path<String>) -> ApiResult<Json<Job>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || app.job(&id)).await?))
}

// ---- data: imports, quality, model ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ImportQuery {
    /// Refuse the file when more than this share of rows is rejected (0–1).
    max_reject_rate: Option<f64>,
    /// Customers: merge duplicate registrations after the import.
    dedupe: Option<bool>,
}

/// `POST /api/v1/imports/{dataset}`: a multipart upload with a `file` part (its name's
/// extension gives the format: `.csv`, `.jsonl`, …) and an optional `mapping` part (the
/// mapping file's TOML). Runs as a job.
#[utoipa::path(post, path = "/api/v1/imports/{dataset}", tag = "data", security(("bearer" = [])),
    params(("dataset" = String, Path, description = "receipts, products, stores, customers, surveys, campaigns, coupons, coupon-products, campaign-members or redemptions"), ImportQuery),
    request_body(content_type = "multipart/form-data", content = Object),
    responses((status = 202, body = jobs::Accepted), (status = 400, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody)))]
async fn import(
    Extension(ctx): Extension<Ctx>,
    Path(dataset): Path<String>,
    q: Q<ImportQuery>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    use unico_lake::Dataset;
    let q = query(q)?;
    let Some(dataset) = Dataset::from_noun(&dataset) else {
        return Err(ApiError::new(
            Code::InputInvalid,
            "dataset is receipts, products, stores, customers, surveys, campaigns, coupons, coupon-products, campaign-members or redemptions",
        )
        .field("dataset"));
    };
    if let Some(r) = q.max_reject_rate.filter(|r| !(0.0..=1.0).contains(r)) {
        return Err(ApiError::new(Code::InputInvalid, format!("max_reject_rate is between 0 and 1, got {r}"))
            .field("max_reject_rate"));
    }
    let Upload { dir, file, mapping, .. } = save_upload(&ctx, multipart, &[]).await?;
    let cleanup = |e: ApiError| {
        let _ = std::fs::remove_dir_all(&dir);
        e
    };
    let Some(file) = file else {
        return Err(cleanup(ApiError::new(Code::InputInvalid, "a file part is required").field("file")));
    };
    let req = unico_app::import::ImportRequest {
        dataset,
        files: vec![file],
        mapping,
        max_reject_rate: q.max_reject_rate,
        dedupe: q.dedupe.unwrap_or(false),
    };
    let request = serde_json::json!({"dataset": format!("{dataset:?}").to_lowercase()});
    let caller = ctx.caller.clone();
    jobs::spawn(&ctx, "import", request, ctx.pause, move |app, progress| {
        let r = app.import(&req, progress, &mut |_| {});
        let _ = std::fs::remove_dir_all(&dir);
        let report = r?;
        let details = serde_json::json!({"dataset": format!("{dataset:?}").to_lowercase()});
        app.record(&caller, "import", None, &details)?;
        value(&report)
    })
    .await
}

/// A multipart upload saved: its folder under `uploads/`, the file, the mapping, and the
/// other text parts allowed.
pub(crate) struct Upload {
    pub dir: std::path::PathBuf,
    pub file: Option<std::path::PathBuf>,
    pub mapping: Option<std::path::PathBuf>,
    pub fields: std::collections::BTreeMap<String, String>,
}

/// Streams a multipart upload's `file` part (and `mapping`, if sent and not blank) to a
/// folder of its own under `uploads/`; text parts named in `fields` are kept, any other part
/// is refused. The folder is removed on error.
pub(crate) async fn save_upload(
    ctx: &Ctx,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
    fields: &[&str],
) -> ApiResult<Upload> {
    let mut multipart = multipart.map_err(|e| ApiError::new(Code::InputInvalid, e.body_text()))?;
    let dir = ctx.tenant.app.root().join("uploads").join(hex::encode(rand::random::<[u8; 8]>()));
    std::fs::create_dir_all(&dir).map_err(|e| ApiError::new(Code::Io, format!("cannot store the upload: {e}")))?;
    let cleanup = |e: ApiError| {
        let _ = std::fs::remove_dir_all(&dir);
        e
    };
    let (mut file, mut mapping, mut kept) = (None, None, std::collections::BTreeMap::new());
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(cleanup(upload_error(e))),
        };
        match field.name() {
            Some("file") => {
                let name = field.file_name().map(sanitize).unwrap_or_else(|| "upload.csv".into());
                let path = dir.join(name);
                let mut out = tokio::fs::File::create(&path)
                    .await
                    .map_err(|e| cleanup(ApiError::new(Code::Io, format!("cannot store the upload: {e}"))))?;
                let mut field = field;
                loop {
                    match field.chunk().await {
                        Ok(Some(bytes)) => tokio::io::AsyncWriteExt::write_all(&mut out, &bytes)
                            .await
                            .map_err(|e| cleanup(ApiError::new(Code::Io, format!("cannot store the upload: {e}"))))?,
                        Ok(None) => break,
                        Err(e) => return Err(cleanup(upload_error(e))),
                    }
                }
                // tokio writes in the background: the bytes are on disk once flushed, not
                // when the handle is dropped.
                tokio::io::AsyncWriteExt::flush(&mut out)
                    .await
                    .map_err(|e| cleanup(ApiError::new(Code::Io, format!("cannot store the upload: {e}"))))?;
                file = Some(path);
            }
            Some("mapping") => {
                let text = field.text().await.map_err(|e| cleanup(upload_error(e)))?;
                if !text.trim().is_empty() {
                    let path = dir.join("mapping.toml");
                    std::fs::write(&path, text).map_err(|e| cleanup(ApiError::new(Code::Io, e.to_string())))?;
                    mapping = Some(path);
                }
            }
            Some(name) if fields.contains(&name) => {
                let name = name.to_string();
                let text = field.text().await.map_err(|e| cleanup(upload_error(e)))?;
                kept.insert(name, text);
            }
            _ => return Err(cleanup(ApiError::new(Code::InputInvalid, "parts are file and mapping").field("file"))),
        }
    }
    Ok(Upload { dir, file, mapping, fields: kept })
}

fn upload_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(Code::PayloadTooLarge, "the upload is larger than the server accepts")
    } else {
        ApiError::new(Code::InputInvalid, e.body_text())
    }
}

/// A file name kept to letters, digits, dots, dashes and underscores.
pub(crate) fn sanitize(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String =
        base.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    if clean.trim_matches('.').is_empty() { "upload.csv".into() } else { clean }
}

/// `GET /api/v1/quality`: the lake's data-quality report.
#[utoipa::path(get, path = "/api/v1/quality", tag = "data", security(("bearer" = [])), responses((status = 200, body = Object)))]
async fn quality(Extension(ctx): Extension<Ctx>) -> ApiResult<Json<serde_json::Value>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || value(&app.quality()?)).await?))
}

/// `GET /api/v1/model`: the published model's parameters.
#[utoipa::path(get, path = "/api/v1/model", tag = "data", security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 409, body = crate::error::ErrorBody)))]
async fn model(Extension(ctx): Extension<Ctx>) -> ApiResult<Json<serde_json::Value>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || value(&app.model_params()?)).await?))
}

/// A model build.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BuildRequest {
    /// The last day of data (default: the lake's last day).
    as_of: Option<String>,
}

/// `POST /api/v1/model/build`: builds and publishes the model, as a job.
#[utoipa::path(post, path = "/api/v1/model/build", tag = "data", security(("bearer" = [])), request_body = BuildRequest,
    responses((status = 202, body = jobs::Accepted)))]
async fn model_build(Extension(ctx): Extension<Ctx>, body: axum::body::Bytes) -> ApiResult<Response> {
    let req: BuildRequest = if body.is_empty() { BuildRequest::default() } else { json(&body)? };
    let request = serde_json::json!({"as_of": req.as_of});
    let caller = ctx.caller.clone();
    jobs::spawn(&ctx, "model_build", request, ctx.pause, move |app, progress| {
        let built = app.build_model(req.as_of.as_deref(), None, progress)?;
        app.record(&caller, "model_build", None, &serde_json::json!({"as_of": built.params.as_of}))?;
        value(&built)
    })
    .await
}

// ---- policies and campaigns ----

/// `POST /api/v1/policies/validate`: the body is the policy's TOML; answers what it would
/// plan, or 422 `policy.invalid` with each problem's line.
#[utoipa::path(post, path = "/api/v1/policies/validate", tag = "campaigns", security(("bearer" = [])),
    request_body(content_type = "text/plain", content = String, description = "the policy file's TOML"),
    responses((status = 200, body = Object), (status = 422, body = crate::error::ErrorBody)))]
async fn validate_policy(
    Extension(ctx): Extension<Ctx>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::new(Code::InputInvalid, "the policy is not UTF-8 text"))?;
    let app = app(&ctx);
    Ok(Json(blocking(move || value(&app.check_policy_text(&text, "policy")?)).await?))
}

/// A campaign as the API lists it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct CampaignBody {
    id: String,
    name: String,
    valid_from: String,
    valid_to: String,
    /// `planned`, `published` or `stopped`.
    status: String,
    offers: i64,
    created_at: String,
    published_at: Option<String>,
    stopped_at: Option<String>,
}

/// `GET /api/v1/campaigns`.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "campaigns", security(("bearer" = [])),
    responses((status = 200, body = [CampaignBody])))]
async fn campaigns(Extension(ctx): Extension<Ctx>) -> ApiResult<Json<Vec<CampaignState>>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || app.campaigns()).await?))
}

/// A plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PlanBody {
    /// The policy's TOML (docs/offers.md); kept as a version in the data directory.
    policy: String,
    /// The day the model must have been built as of.
    as_of: Option<String>,
    /// Write the files only, do not store the campaign.
    dry_run: Option<bool>,
}

/// `POST /api/v1/campaigns/plan`: plans a campaign (stored as `planned`), as a job; the
/// files go to `campaigns/<job>` in the data directory.
#[utoipa::path(post, path = "/api/v1/campaigns/plan", tag = "campaigns", security(("bearer" = [])), request_body = PlanBody,
    responses((status = 202, body = jobs::Accepted), (status = 400, body = crate::error::ErrorBody)))]
async fn plan(Extension(ctx): Extension<Ctx>, body: axum::body::Bytes) -> ApiResult<Response> {
    let req: PlanBody = json(&body)?;
    let app = app(&ctx);
    let text = req.policy.clone();
    let policy = blocking(move || app.keep_policy(&text)).await?;
    let out = ctx.tenant.app.root().join("campaigns").join(format!(
        "{}-{}",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S"),
        hex::encode(rand::random::<[u8; 3]>())
    ));
    let version = policy.file_stem().map(|s| s.to_string_lossy().into_owned());
    let request = serde_json::json!({"policy_version": version, "as_of": req.as_of, "dry_run": req.dry_run});
    let plan = unico_app::plan::PlanRequest { policy, as_of: req.as_of, out, dry_run: req.dry_run.unwrap_or(false) };
    let caller = ctx.caller.clone();
    jobs::spawn(&ctx, "plan", request, ctx.pause, move |app, progress| {
        let planned = app.plan_campaign(&plan, progress)?;
        let details = serde_json::json!({"campaign": planned.campaign_id, "dry_run": planned.dry_run});
        app.record(&caller, "plan", None, &details)?;
        value(&planned)
    })
    .await
}

/// `POST /api/v1/campaigns/{id}/publish`: its offers reach the app and the tills from its
/// first day.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/publish", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = CampaignBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn publish(Extension(ctx): Extension<Ctx>, Path(id): Path<String>) -> ApiResult<Json<CampaignState>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || app.publish_campaign(&id, &ctx.caller)).await?))
}

/// `POST /api/v1/campaigns/{id}/stop`: its offers reach no one any more.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/stop", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = CampaignBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn stop(Extension(ctx): Extension<Ctx>, Path(id): Path<String>) -> ApiResult<Json<CampaignState>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || app.stop_campaign(&id, &ctx.caller)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct MeasureQuery {
    /// Data up to this day (default: the lake's last).
    as_of: Option<String>,
    /// Confidence level of the intervals (default 0.95).
    level: Option<f64>,
}

/// `GET /api/v1/campaigns/{id}/measure`: uplift against the holdout.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/measure", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path), MeasureQuery), responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
async fn measure(
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    q: Q<MeasureQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let level = q.level.unwrap_or(0.95);
    if !(0.5..1.0).contains(&level) {
        return Err(ApiError::new(Code::InputInvalid, "level is between 0.5 and 1").field("level"));
    }
    let req = unico_app::kpi::MeasureRequest { campaign: Some(id), as_of: q.as_of, level };
    let app = app(&ctx);
    Ok(Json(blocking(move || value(&app.measure(&req)?)).await?))
}

// ---- KPIs and goals ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct KpiQuery {
    /// First day.
    from: Option<String>,
    /// Last day.
    to: Option<String>,
    /// `day`, `week` (default) or `month`.
    by: Option<String>,
    /// One store only (a store manager: theirs, always).
    store: Option<String>,
    /// One row per store.
    by_store: Option<bool>,
    /// One row per channel.
    by_channel: Option<bool>,
    /// One row per segment.
    by_segment: Option<bool>,
}

/// `GET /api/v1/kpis`: the KPIs with the filters of `unico kpi`.
#[utoipa::path(get, path = "/api/v1/kpis", tag = "kpis", security(("bearer" = [])), params(KpiQuery),
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
async fn kpis(Extension(ctx): Extension<Ctx>, q: Q<KpiQuery>) -> ApiResult<Json<serde_json::Value>> {
    use unico_app::kpi::{Grain, KpiRequest};
    let q = query(q)?;
    let store = own_store(&ctx, q.store.as_deref())?;
    let by = match q.by.as_deref().unwrap_or("week") {
        "day" => Grain::Day,
        "week" => Grain::Week,
        "month" => Grain::Month,
        _ => return Err(ApiError::new(Code::InputInvalid, "by is day, week or month").field("by")),
    };
    let req = KpiRequest {
        from: q.from,
        to: q.to,
        by,
        by_store: q.by_store.unwrap_or(false),
        by_channel: q.by_channel.unwrap_or(false),
        by_segment: q.by_segment.unwrap_or(false),
        store,
    };
    let app = app(&ctx);
    Ok(Json(blocking(move || value(&app.kpis(&req, &unico_app::Silent)?)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct GoalsQuery {
    /// The day to judge the goals on (default: the lake's last).
    as_of: Option<String>,
}

/// `GET /api/v1/goals`: every goal's state and trajectory (a store manager: their store's).
#[utoipa::path(get, path = "/api/v1/goals", tag = "kpis", security(("bearer" = [])), params(GoalsQuery),
    responses((status = 200, body = Object)))]
async fn goals(Extension(ctx): Extension<Ctx>, q: Q<GoalsQuery>) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let store = own_store(&ctx, None)?;
    let app = app(&ctx);
    let status = blocking(move || {
        let mut status = app.goal_status(q.as_of.as_deref(), &unico_app::Silent)?;
        if let Some(s) = store {
            status.goals.retain(|g| g.goal.scope_kind == "store" && g.goal.scope_value.as_deref() == Some(s.as_str()));
        }
        value(&status)
    })
    .await?;
    Ok(Json(status))
}

/// A goal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GoalBody {
    /// The KPI (docs/kpis.md).
    kpi: String,
    /// The value to reach, in the KPI's unit.
    target: f64,
    /// The deadline (YYYY-MM-DD).
    by: String,
    /// `store:ID` or `segment:NAME`; none for the chain.
    scope: Option<String>,
    /// `daily` (default) or `weekly`.
    review: Option<String>,
    /// Where alerts go: `mailto:` or http(s) URLs.
    notify: Option<Vec<String>>,
}

/// `POST /api/v1/goals`.
#[utoipa::path(post, path = "/api/v1/goals", tag = "kpis", security(("bearer" = [])), request_body = GoalBody,
    responses((status = 201, body = Object), (status = 400, body = crate::error::ErrorBody)))]
async fn add_goal(Extension(ctx): Extension<Ctx>, body: axum::body::Bytes) -> ApiResult<Response> {
    let g: GoalBody = json(&body)?;
    let req = unico_app::kpi::GoalRequest {
        kpi: g.kpi,
        target: g.target,
        by: g.by,
        scope: g.scope,
        review: g.review.unwrap_or_else(|| "daily".into()),
        notify: g.notify.unwrap_or_default(),
    };
    let app = app(&ctx);
    let added = blocking(move || {
        let added = app.add_goal(&req)?;
        app.record(&ctx.caller, "add_goal", None, &serde_json::json!({"kpi": req.kpi}))?;
        value(&added)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OutboxQuery {
    /// Delivered messages too.
    all: Option<bool>,
}

/// `GET /api/v1/outbox`: messages waiting to be delivered (goal alerts).
#[utoipa::path(get, path = "/api/v1/outbox", tag = "kpis", security(("bearer" = [])), params(OutboxQuery),
    responses((status = 200, body = [Object])))]
async fn outbox(Extension(ctx): Extension<Ctx>, q: Q<OutboxQuery>) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let app = app(&ctx);
    Ok(Json(blocking(move || value(&app.outbox(q.all.unwrap_or(false))?)).await?))
}

// ---- customers ----

/// A customer to find.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LookupBody {
    /// A card number, an e-mail, a phone number or `#id` (in the body, never in a URL,
    /// so that it stays out of access logs).
    reference: String,
}

/// A customer found.
#[derive(Debug, serde::Serialize, ToSchema)]
struct Found {
    /// The customer's id, for the other customer routes.
    id: i64,
}

/// `POST /api/v1/customers/lookup`: the customer's id, found through the keyed hashes.
#[utoipa::path(post, path = "/api/v1/customers/lookup", tag = "customers", security(("bearer" = [])), request_body = LookupBody,
    responses((status = 200, body = Found), (status = 404, body = crate::error::ErrorBody)))]
async fn lookup(Extension(ctx): Extension<Ctx>, body: axum::body::Bytes) -> ApiResult<Json<Found>> {
    let b: LookupBody = json(&body)?;
    let app = app(&ctx);
    let id = blocking(move || app.resolve_customer(&b.reference)).await?;
    Ok(Json(Found { id }))
}

fn reference(id: i64) -> String {
    format!("#{id}")
}

/// `GET /api/v1/customers/{id}`: the single customer view with personal data; each read is
/// in the audit log.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
async fn customer(Extension(ctx): Extension<Ctx>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    let app = app(&ctx);
    Ok(Json(
        blocking(move || {
            let card = app.customer(&reference(id), None)?;
            app.record(&ctx.caller, "read_customer", Some(id), &serde_json::json!({}))?;
            value(&card)
        })
        .await?,
    ))
}

/// `GET /api/v1/customers/{id}/profile`: the behavioural profile, products due and offers,
/// without personal data.
#[utoipa::path(get, path = "/api/v1/customers/{id}/profile", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
async fn profile(Extension(ctx): Extension<Ctx>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || value(&app.customer_profile(&reference(id), None)?)).await?))
}

/// A consent given or withdrawn.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    /// Given (true) or withdrawn.
    granted: bool,
    /// The privacy policy's version (default: the settings').
    policy_version: Option<String>,
}

/// `PUT /api/v1/customers/{id}/consents/{purpose}`.
#[utoipa::path(put, path = "/api/v1/customers/{id}/consents/{purpose}", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path), ("purpose" = String, Path, description = "marketing, profiling, email, sms or app")),
    request_body = ConsentBody,
    responses((status = 200, body = Object), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn consent(
    Extension(ctx): Extension<Ctx>,
    Path((id, purpose)): Path<(i64, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let b: ConsentBody = json(&body)?;
    let app = app(&ctx);
    Ok(Json(
        blocking(move || {
            let source = format!("api:{}", ctx.caller.user.email);
            let changed = app.set_consent(&reference(id), &purpose, b.granted, b.policy_version.as_deref(), &source)?;
            app.record(
                &ctx.caller,
                "consent",
                Some(id),
                &serde_json::json!({"purpose": purpose, "granted": b.granted}),
            )?;
            value(&changed)
        })
        .await?,
    ))
}

/// `GET /api/v1/customers/{id}/export`: everything held about the person (right of access).
#[utoipa::path(get, path = "/api/v1/customers/{id}/export", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
async fn export(Extension(ctx): Extension<Ctx>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    let app = app(&ctx);
    Ok(Json(
        blocking(move || {
            let v = app.export_customer(&reference(id))?;
            app.record(&ctx.caller, "export_customer", Some(id), &serde_json::json!({}))?;
            Ok(v)
        })
        .await?,
    ))
}

/// `DELETE /api/v1/customers/{id}`: erasure (docs/customers.md).
#[utoipa::path(delete, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn erase(Extension(ctx): Extension<Ctx>, Path(id): Path<i64>) -> ApiResult<Json<serde_json::Value>> {
    let app = app(&ctx);
    Ok(Json(
        blocking(move || {
            let done = app.erase_customer(&reference(id), &unico_app::Silent)?;
            app.record(&ctx.caller, "erase_customer", Some(id), &serde_json::json!({}))?;
            value(&done)
        })
        .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DuplicatesQuery {
    /// Least score shown (0–1, default 0.5).
    min_score: Option<f64>,
}

/// `GET /api/v1/duplicates`: likely duplicate registrations with their evidence.
#[utoipa::path(get, path = "/api/v1/duplicates", tag = "customers", security(("bearer" = [])), params(DuplicatesQuery),
    responses((status = 200, body = [Object])))]
async fn duplicates(Extension(ctx): Extension<Ctx>, q: Q<DuplicatesQuery>) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let min = q.min_score.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&min) {
        return Err(ApiError::new(Code::InputInvalid, "min_score is between 0 and 1").field("min_score"));
    }
    let app = app(&ctx);
    Ok(Json(
        blocking(move || {
            let found = app.duplicates(min)?;
            app.record(&ctx.caller, "read_duplicates", None, &serde_json::json!({"pairs": found.len()}))?;
            value(&found)
        })
        .await?,
    ))
}

/// A merge of duplicates.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    /// Merge pairs scoring at least this (default: the settings').
    threshold: Option<f64>,
    /// Compare every registration again (default: only those new or changed since the
    /// last run, with the rest of their blocks).
    #[serde(default)]
    full: bool,
}

/// `POST /api/v1/duplicates/merge`.
#[utoipa::path(post, path = "/api/v1/duplicates/merge", tag = "customers", security(("bearer" = [])), request_body = MergeBody,
    responses((status = 200, body = Object)))]
async fn merge(Extension(ctx): Extension<Ctx>, body: axum::body::Bytes) -> ApiResult<Json<serde_json::Value>> {
    let b: MergeBody = if body.is_empty() { MergeBody::default() } else { json(&body)? };
    if let Some(t) = b.threshold.filter(|t| !(0.0..=1.0).contains(t)) {
        return Err(
            ApiError::new(Code::InputInvalid, format!("threshold is between 0 and 1, got {t}")).field("threshold")
        );
    }
    let app = app(&ctx);
    Ok(Json(
        blocking(move || {
            let merged = app.merge_duplicates_with(b.threshold, b.full, &unico_app::progress::Silent)?;
            app.record(&ctx.caller, "merge", None, &serde_json::json!({}))?;
            value(&merged)
        })
        .await?,
    ))
}

/// A merge to undo.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UnmergeBody {
    /// A card of the registration to separate again.
    card: String,
}

/// `POST /api/v1/duplicates/unmerge`.
#[utoipa::path(post, path = "/api/v1/duplicates/unmerge", tag = "customers", security(("bearer" = [])), request_body = UnmergeBody,
    responses((status = 200, body = Object), (status = 404, body = crate::error::ErrorBody)))]
async fn unmerge(Extension(ctx): Extension<Ctx>, body: axum::body::Bytes) -> ApiResult<Json<serde_json::Value>> {
    let b: UnmergeBody = json(&body)?;
    let app = app(&ctx);
    Ok(Json(
        blocking(move || {
            let undone = app.unmerge(&b.card)?;
            app.record(&ctx.caller, "unmerge", Some(undone.restored), &serde_json::json!({}))?;
            value(&undone)
        })
        .await?,
    ))
}

// ---- webhooks ----

/// A subscription as the API shows it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct WebhookBody {
    id: i64,
    url: String,
    events: Vec<String>,
    created_by: String,
    created_at: String,
}

/// A webhook message as the API shows it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct DeliveryBody {
    id: i64,
    webhook_id: i64,
    url: String,
    event: String,
    body: String,
    /// `pending`, `delivered` or `dead`.
    state: String,
    attempts: i64,
    next_attempt_at: Option<String>,
    last_error: Option<String>,
    created_at: String,
    delivered_at: Option<String>,
}

/// `GET /api/v1/webhooks`.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = [WebhookBody])))]
async fn webhooks(Extension(ctx): Extension<Ctx>) -> ApiResult<Json<Vec<Webhook>>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || app.webhooks()).await?))
}

/// A subscription to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    /// Where to POST (http or https).
    url: String,
    /// Any of `redemption`, `consent.changed`, `goal.changed`, `campaign.published`, `customer.erased`.
    events: Vec<String>,
}

/// `POST /api/v1/webhooks`: answers the subscription and its signing secret, once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = NewWebhook,
    responses((status = 201, body = Object)))]
async fn add_webhook(Extension(ctx): Extension<Ctx>, body: axum::body::Bytes) -> ApiResult<Response> {
    let new: NewWebhook = json(&body)?;
    let app = app(&ctx);
    let added = blocking(move || app.add_webhook(&new.url, &new.events, &ctx.caller)).await?;
    Ok((StatusCode::CREATED, Json(added)).into_response())
}

/// `DELETE /api/v1/webhooks/{id}`: its pending messages are dropped (dead).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 204, description = "removed")))]
async fn remove_webhook(Extension(ctx): Extension<Ctx>, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    let app = app(&ctx);
    blocking(move || app.remove_webhook(id, &ctx.caller)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveriesQuery {
    /// `pending`, `delivered` or `dead` (default: all).
    state: Option<String>,
    /// At most this many (1–1000, default 100).
    limit: Option<i64>,
}

/// `GET /api/v1/webhooks/deliveries`: messages, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "webhooks", security(("bearer" = [])), params(DeliveriesQuery),
    responses((status = 200, body = [DeliveryBody])))]
async fn deliveries(Extension(ctx): Extension<Ctx>, q: Q<DeliveriesQuery>) -> ApiResult<Json<Vec<Delivery>>> {
    let q = query(q)?;
    let app = app(&ctx);
    Ok(Json(blocking(move || app.deliveries(q.state.as_deref(), q.limit.unwrap_or(100))).await?))
}

/// `POST /api/v1/webhooks/deliveries/{id}/resend`: an undelivered message, sent again now.
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{id}/resend", tag = "webhooks", security(("bearer" = [])),
    params(("id" = i64, Path)), responses((status = 200, body = DeliveryBody)))]
async fn resend(Extension(ctx): Extension<Ctx>, Path(id): Path<i64>) -> ApiResult<Json<Delivery>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || app.resend(id, &ctx.caller)).await?))
}

/// `POST /api/v1/campaigns/{id}/learn`: a multipart upload with a `file` part, the redeemed
/// offers (a CSV with a `code` column; `redeemed_at`, `discount_cents` optional; without it,
/// the redemptions the tills confirmed through the API). Learns the
/// response to each depth, used by the next plans. A job.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/learn", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path)), request_body(content_type = "multipart/form-data", content = Object),
    responses((status = 202, body = jobs::Accepted)))]
async fn learn(
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    // Without a file part: the redemptions the tills confirmed through the API.
    let Upload { dir, file, .. } = save_upload(&ctx, multipart, &[]).await?;
    let caller = ctx.caller.clone();
    let request = serde_json::json!({"campaign": id});
    jobs::spawn(&ctx, "learn", request, ctx.pause, move |app, _progress| {
        let learned = app.learn_campaign(&id, file.as_deref());
        let _ = std::fs::remove_dir_all(&dir);
        let learned = learned?;
        app.record(&caller, "learn", None, &serde_json::json!({"campaign": id}))?;
        value(&learned)
    })
    .await
}

/// A kept policy version as the API lists it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct PolicyVersionBody {
    /// `<time>-<hash>`.
    id: String,
    /// The campaign name it holds.
    name: Option<String>,
    bytes: u64,
}

/// `GET /api/v1/policies`: the policy versions plans were made with, newest first.
#[utoipa::path(get, path = "/api/v1/policies", tag = "campaigns", security(("bearer" = [])),
    responses((status = 200, body = [PolicyVersionBody])))]
async fn policies(Extension(ctx): Extension<Ctx>) -> ApiResult<Json<serde_json::Value>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || value(&app.policy_versions()?)).await?))
}

/// A policy version's text.
#[derive(Debug, serde::Serialize, ToSchema)]
struct PolicyText {
    /// The version's id.
    id: String,
    /// The policy file's TOML.
    text: String,
}

/// `GET /api/v1/policies/{id}`: one version's text.
#[utoipa::path(get, path = "/api/v1/policies/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = PolicyText)))]
async fn policy(Extension(ctx): Extension<Ctx>, Path(id): Path<String>) -> ApiResult<Json<PolicyText>> {
    let app = app(&ctx);
    let text = blocking({
        let id = id.clone();
        move || app.policy_version(&id)
    })
    .await?;
    Ok(Json(PolicyText { id, text }))
}

// ---- recommendations and exports ----

/// Recommendations to compute.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RecommendBody {
    /// Products per customer (1–50, default 10).
    k: Option<usize>,
    /// The last day of data (default: the lake's last).
    as_of: Option<String>,
    /// Only products the customer never bought.
    exclude_purchased: Option<bool>,
    /// Name customers by pseudonymous key instead of card.
    by_key: Option<bool>,
}

/// `POST /api/v1/recommendations`: every customer's recommended products (`unico recommend`),
/// as a job writing a CSV to download from `/api/v1/exports/{name}`.
#[utoipa::path(post, path = "/api/v1/recommendations", tag = "data", security(("bearer" = [])), request_body = RecommendBody,
    responses((status = 202, body = jobs::Accepted)))]
async fn recommend(Extension(ctx): Extension<Ctx>, body: axum::body::Bytes) -> ApiResult<Response> {
    let b: RecommendBody = if body.is_empty() { json(b"{}")? } else { json(&body)? };
    let k = b.k.unwrap_or(10);
    if !(1..=50).contains(&k) {
        return Err(ApiError::new(Code::InputInvalid, "k is between 1 and 50").field("k"));
    }
    let name = format!("recommendations-{}.csv", jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%6f"));
    let out = ctx.tenant.app.exports_dir().join(&name);
    let req = unico_app::model::RecommendRequest {
        as_of: b.as_of,
        k,
        exclude_purchased: b.exclude_purchased.unwrap_or(false),
        out,
        by_key: b.by_key.unwrap_or(false),
    };
    let request = serde_json::json!({"k": k, "export": name});
    let caller = ctx.caller.clone();
    jobs::spawn(&ctx, "recommend", request, ctx.pause, move |app, progress| {
        std::fs::create_dir_all(app.exports_dir()).map_err(|e| unico_app::Error::new(Code::Io, e.to_string()))?;
        let done = app.recommend(&req, progress)?;
        app.record(&caller, "recommend", None, &serde_json::json!({"export": name}))?;
        let mut v = value(&done)?;
        v["export"] = serde_json::json!(name);
        Ok(v)
    })
    .await
}

/// A file to download, as the API lists it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ExportBody {
    name: String,
    bytes: u64,
}

/// `GET /api/v1/exports`: files written for download, newest first.
#[utoipa::path(get, path = "/api/v1/exports", tag = "data", security(("bearer" = [])),
    responses((status = 200, body = [ExportBody])))]
async fn exports(Extension(ctx): Extension<Ctx>) -> ApiResult<Json<serde_json::Value>> {
    let app = app(&ctx);
    Ok(Json(blocking(move || value(&app.exports()?)).await?))
}

/// `GET /api/v1/exports/{name}`: one file, as CSV; each download is in the audit log.
#[utoipa::path(get, path = "/api/v1/exports/{name}", tag = "data", security(("bearer" = [])),
    params(("name" = String, Path)), responses((status = 200, body = String, content_type = "text/csv")))]
async fn download(Extension(ctx): Extension<Ctx>, Path(name): Path<String>) -> ApiResult<Response> {
    let app = app(&ctx);
    let path = blocking({
        let name = name.clone();
        move || {
            let path = app.export_path(&name)?;
            app.record(&ctx.caller, "download", None, &serde_json::json!({"export": name}))?;
            Ok(path)
        }
    })
    .await?;
    let file = tokio::fs::File::open(&path).await.map_err(|e| ApiError::new(Code::Io, e.to_string()))?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        body,
    )
        .into_response())
}
