//! The back office in the browser: server-rendered pages over the same service layer as
//! the API (Kanidm is the anchor: askama templates, no build step, no script needed).
//!
//! Every page is a [`Page`]: the layout (who is logged in, their role and retailer, the
//! menu their role opens) and a list of [`Block`]s — headings, tiles, SVG charts
//! ([`charts`]), tables, forms — drawn by one template, so every page has the same
//! accessible structure. Pages are under `/office/`, each in the role matrix like any API
//! route; a page asked for without a session answers a redirect to the login page, one the
//! role may not open a 403 page. Forms post with the session cookie and repeat the CSRF
//! cookie's value in the `csrf` query parameter (the same double-submit check as the API's
//! header). Everything a page loads comes from this server (CSP `default-src 'self'`).

pub(crate) mod charts;
mod orders;
mod pages;

use crate::State;
use crate::auth::{CSRF_COOKIE, Ctx, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult};
use askama::Template;
use axum::extract::{ConnectInfo, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use unico_app::Code;
use unico_app::staff::Role;

pub(crate) use orders::*;
pub(crate) use pages::*;

/// A form body, or why it could not be read (a page answers a missing field itself).
pub(crate) type FormIn<T> = Result<axum::Form<T>, axum::extract::rejection::FormRejection>;
/// A query string, likewise.
pub(crate) type QueryIn<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// A form's body (anything but a multipart upload) up to this size is read before the
/// handler runs.
const FORM_BYTES: usize = 64 * 1024;

/// Reads a small body whole before the handler: a handler that refuses a form it cannot
/// parse has then still consumed it, and the connection stays usable for the browser's next
/// request (hyper closes one whose request body was left unread).
pub(crate) async fn read_small_body(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let small = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n <= FORM_BYTES);
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    if !small || multipart {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, FORM_BYTES).await {
        Ok(bytes) => next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Err(_) => ApiError::new(Code::InputInvalid, "the form could not be read").into_response(),
    }
}

/// The pages' routes (the role check runs in [`crate::auth::authorize`]).
pub(crate) fn routes() -> Router<Arc<State>> {
    Router::new()
        .route("/office", get(root))
        .route("/office/login", get(login_page).post(login))
        .route("/office/logout", post(logout))
        .route("/office/static/{file}", get(static_file))
        .route("/office/", get(home))
        .route("/office/kpis", get(kpis))
        .route("/office/kpis.csv", get(kpis_csv))
        .route("/office/campaigns", get(campaigns))
        .route("/office/campaigns/plan", post(plan))
        .route("/office/campaigns/{id}", get(campaign))
        .route("/office/campaigns/{id}/publish", post(publish))
        .route("/office/campaigns/{id}/stop", post(stop))
        .route("/office/jobs/{id}", get(job))
        .route("/office/customers", get(customers))
        .route("/office/customers/{id}", get(customer))
        .route("/office/customers/{id}/export", get(customer_export))
        .route("/office/customers/{id}/erase", get(erase_confirm).post(erase))
        .route("/office/duplicates", get(duplicates))
        .route("/office/duplicates/merge", post(merge))
        .route("/office/duplicates/unmerge", post(unmerge))
        .route("/office/data", get(data))
        .route("/office/data/rejects/{file}", get(rejects))
        .route("/office/data/model", post(build_model))
        .route("/office/tickets", get(tickets))
        .route("/office/tickets/{id}", get(ticket))
        .route("/office/tickets/{id}/reply", post(reply))
        .route("/office/orders", get(orders))
        .route("/office/orders/slots", post(add_slots))
        .route("/office/orders/{id}", get(order))
        .route("/office/orders/{id}/lines/{line_no}", post(pick))
        .route("/office/orders/{id}/state", post(set_state))
        .route("/office/admin", get(admin))
        .route("/office/admin/users", post(add_user))
        .route("/office/admin/privacy", post(publish_privacy))
        .route("/office/admin/users/{email}/disable", post(disable_user))
        .route_layer(axum::middleware::from_fn(read_small_body))
}

// ---- the page model ----

/// One page.
#[derive(Template)]
#[template(path = "office/page.html")]
pub(crate) struct PageView<'a> {
    page: &'a Page,
}

/// A page's content and layout.
pub(crate) struct Page {
    pub title: String,
    pub who: Option<Who>,
    pub nav: Vec<Nav>,
    pub csrf: String,
    pub blocks: Vec<Block>,
    /// Reload every so many seconds (a job under way).
    pub refresh: Option<u32>,
    pub status: StatusCode,
}

/// Who is logged in.
pub(crate) struct Who {
    pub email: String,
    pub role: &'static str,
    pub store: Option<String>,
    pub tenant: String,
}

/// A menu entry.
pub(crate) struct Nav {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// A piece of a page.
pub(crate) enum Block {
    Heading(String),
    Para(String),
    Notice(Notice),
    Links(Vec<Link>),
    Tiles(Vec<Tile>),
    Chart(Chart),
    Goal(GoalView),
    Table(Table),
    Form(Form),
    Listing(Listing),
    Progress(ProgressView),
    Pre(String),
}

pub(crate) struct Notice {
    /// `ok`, `warn` or `error`.
    pub kind: &'static str,
    pub text: String,
}

pub(crate) struct Link {
    pub href: String,
    pub label: String,
}

pub(crate) struct Tile {
    pub label: String,
    pub href: Option<String>,
    pub value: String,
    pub compare: Vec<Compare>,
    pub spark: String,
}

pub(crate) struct Compare {
    /// `up`, `down` or `flat`.
    pub class: &'static str,
    pub text: String,
}

pub(crate) struct Chart {
    pub svg: String,
    pub caption: String,
}

pub(crate) struct GoalView {
    pub id: i64,
    pub title: String,
    pub state: String,
    pub state_class: &'static str,
    pub summary: String,
    pub svg: String,
    pub caption: String,
    pub movers: String,
}

pub(crate) struct Table {
    pub caption: String,
    pub head: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub empty: String,
}

pub(crate) struct Cell {
    pub text: String,
    pub href: Option<String>,
    pub num: bool,
}

pub(crate) struct Form {
    pub action: String,
    pub method: &'static str,
    pub multipart: bool,
    pub legend: String,
    pub inline: bool,
    pub fields: Vec<Field>,
    pub buttons: Vec<Button>,
}

pub(crate) struct Field {
    pub label: String,
    pub name: String,
    pub kind: Kind,
    pub value: String,
    pub required: bool,
    pub help: String,
}

pub(crate) enum Kind {
    Input(&'static str),
    Textarea(u32),
    Select(Vec<Choice>),
    Check,
}

pub(crate) struct Choice {
    pub value: String,
    pub label: String,
}

pub(crate) struct Button {
    pub label: String,
    pub name: String,
    pub value: String,
    pub danger: bool,
}

pub(crate) struct Listing {
    pub caption: String,
    pub lines: Vec<ListingLine>,
}

pub(crate) struct ListingLine {
    pub number: usize,
    pub text: String,
    pub problems: Vec<String>,
}

pub(crate) struct ProgressView {
    pub label: String,
    pub done: i64,
    pub total: i64,
    pub percent: String,
}

// ---- helpers to build pages ----

impl Cell {
    pub fn text(t: impl Into<String>) -> Cell {
        Cell { text: t.into(), href: None, num: false }
    }
    pub fn num(t: impl Into<String>) -> Cell {
        Cell { text: t.into(), href: None, num: true }
    }
    pub fn link(t: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell { text: t.into(), href: Some(href.into()), num: false }
    }
}

impl Table {
    pub fn new(caption: impl Into<String>, head: &[&str]) -> Table {
        Table {
            caption: caption.into(),
            head: head.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            empty: "Nothing yet.".into(),
        }
    }
    pub fn empty(mut self, text: &str) -> Table {
        self.empty = text.into();
        self
    }
}

impl Field {
    pub fn input(kind: &'static str, name: &str, label: &str, value: impl Into<String>) -> Field {
        Field {
            label: label.into(),
            name: name.into(),
            kind: Kind::Input(kind),
            value: value.into(),
            required: false,
            help: String::new(),
        }
    }
    pub fn select(name: &str, label: &str, value: impl Into<String>, options: Vec<(String, String)>) -> Field {
        let options = options.into_iter().map(|(value, label)| Choice { value, label }).collect();
        Field { kind: Kind::Select(options), ..Field::input("text", name, label, value) }
    }
    pub fn textarea(name: &str, label: &str, value: impl Into<String>, rows: u32) -> Field {
        Field { kind: Kind::Textarea(rows), ..Field::input("text", name, label, value) }
    }
    pub fn check(name: &str, label: &str, checked: bool) -> Field {
        Field { kind: Kind::Check, ..Field::input("text", name, label, if checked { "yes" } else { "" }) }
    }
    pub fn required(mut self) -> Field {
        self.required = true;
        self
    }
    pub fn help(mut self, text: &str) -> Field {
        self.help = text.into();
        self
    }
}

impl Form {
    pub fn post(action: impl Into<String>, submit: &str) -> Form {
        Form {
            action: action.into(),
            method: "post",
            multipart: false,
            legend: String::new(),
            inline: false,
            fields: Vec::new(),
            buttons: vec![Button { label: submit.into(), name: String::new(), value: String::new(), danger: false }],
        }
    }
    pub fn get(action: impl Into<String>, submit: &str) -> Form {
        Form { method: "get", ..Form::post(action, submit) }
    }
    pub fn fields(mut self, fields: Vec<Field>) -> Form {
        self.fields = fields;
        self
    }
    pub fn legend(mut self, legend: &str) -> Form {
        self.legend = legend.into();
        self
    }
    pub fn inline(mut self) -> Form {
        self.inline = true;
        self
    }
    pub fn multipart(mut self) -> Form {
        self.multipart = true;
        self
    }
    pub fn danger(mut self) -> Form {
        for b in &mut self.buttons {
            b.danger = true;
        }
        self
    }
    pub fn buttons(mut self, buttons: &[(&str, &str, &str)]) -> Form {
        self.buttons = buttons
            .iter()
            .map(|(label, name, value)| Button {
                label: label.to_string(),
                name: name.to_string(),
                value: value.to_string(),
                danger: false,
            })
            .collect();
        self
    }
}

impl Notice {
    pub fn is_error(&self) -> bool {
        self.kind == "error"
    }
}

impl Form {
    pub fn is_post(&self) -> bool {
        self.method == "post"
    }
}

impl Field {
    pub fn is_password(&self) -> bool {
        matches!(self.kind, Kind::Input("password"))
    }
}

impl Block {
    pub fn notice(kind: &'static str, text: impl Into<String>) -> Block {
        Block::Notice(Notice { kind, text: text.into() })
    }
    pub fn heading(text: impl Into<String>) -> Block {
        Block::Heading(text.into())
    }
    pub fn para(text: impl Into<String>) -> Block {
        Block::Para(text.into())
    }
}

/// The menu: what each role may open.
const MENU: &[(&str, &str, &[Role])] = &[
    ("/office/", "Home", &[Role::Admin, Role::Marketing, Role::StoreManager, Role::Support]),
    ("/office/kpis", "KPIs", &[Role::Admin, Role::Marketing, Role::StoreManager]),
    ("/office/campaigns", "Campaigns", &[Role::Admin, Role::Marketing]),
    ("/office/customers", "Customers", &[Role::Admin, Role::Marketing, Role::Support]),
    ("/office/data", "Data", &[Role::Admin, Role::Marketing]),
    ("/office/tickets", "Tickets", &[Role::Admin, Role::StoreManager, Role::Support]),
    ("/office/orders", "Orders", &[Role::Admin, Role::StoreManager]),
    ("/office/admin", "Admin", &[Role::Admin]),
];

/// The page's starting point for a logged-in caller.
pub(crate) fn page(ctx: &Ctx, headers: &HeaderMap, here: &str, title: impl Into<String>) -> Page {
    let role = ctx.caller.role;
    let nav = MENU
        .iter()
        .filter(|(_, _, roles)| roles.contains(&role))
        .map(|(href, label, _)| Nav {
            href,
            label,
            current: *href == here || (*href != "/office/" && here.starts_with(href)),
        })
        .collect();
    Page {
        title: title.into(),
        who: Some(Who {
            email: ctx.caller.user.email.clone(),
            role: role.as_str(),
            store: ctx.caller.user.store_id.clone(),
            tenant: ctx.tenant.name.clone(),
        }),
        nav,
        csrf: crate::auth::cookie(headers, CSRF_COOKIE).unwrap_or_default(),
        blocks: Vec::new(),
        refresh: None,
        status: StatusCode::OK,
    }
}

/// What the pages send with every answer.
const CSP: &str = "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

fn secure(r: &mut Response, started: Option<std::time::Instant>) {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(t) = started {
        // The server's own time on the page (the benchmark reads it; so can a browser's
        // developer tools).
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if let Ok(v) = HeaderValue::from_str(&format!("render;dur={ms:.1}")) {
            h.insert("server-timing", v);
        }
    }
}

impl Page {
    /// The page as an HTML answer.
    pub fn render(self, started: std::time::Instant) -> Response {
        let html = PageView { page: &self }.render();
        let mut r = match html {
            Ok(html) => (self.status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
            Err(e) => {
                tracing::error!("a page failed to render: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "the page failed to render").into_response()
            }
        };
        secure(&mut r, Some(started));
        r
    }
}

/// An error as a page: a 401 goes to the login page, anything else is shown with its
/// message in the layout.
pub(crate) fn error_page(e: ApiError, ctx: Option<&Ctx>, headers: &HeaderMap, path: &str) -> Response {
    if e.code == Code::Unauthorized {
        return to_login(path);
    }
    let mut p = match ctx {
        Some(ctx) => page(ctx, headers, path, "Something is wrong"),
        None => Page {
            title: "Something is wrong".into(),
            who: None,
            nav: Vec::new(),
            csrf: String::new(),
            blocks: Vec::new(),
            refresh: None,
            status: StatusCode::OK,
        },
    };
    if e.code == Code::Forbidden {
        p.title = "Not allowed".into();
    }
    p.status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    p.blocks.push(Block::notice("error", e.message.clone()));
    p.blocks.push(Block::Links(vec![Link { href: "/office/".into(), label: "Back to the home page".into() }]));
    let mut r = p.render(std::time::Instant::now());
    if let Some(wait) = e.retry_after {
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
    }
    r
}

/// A redirect to the login page, coming back to `path` after.
pub(crate) fn to_login(path: &str) -> Response {
    let next: String = url_encode(path);
    see_other(&format!("/office/login?next={next}"))
}

/// 303 See Other: after a form, the browser asks for `to` with GET.
pub(crate) fn see_other(to: &str) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response();
    secure(&mut r, None);
    r
}

/// Percent-encodes a query value.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path segment percent-encoded (a campaign id has spaces).
pub(crate) fn segment(s: &str) -> String {
    url_encode(s).replace('/', "%2F")
}

// ---- login, logout, static files ----

#[derive(Template)]
#[template(path = "office/login.html")]
struct LoginView {
    error: String,
    next: String,
    email: String,
    tenant: String,
    several: bool,
}

#[derive(Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// Where to go after logging in: a back-office page only, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/office/") && !n.starts_with("//") && !n.contains(['\\', '\r', '\n']) => n.into(),
        _ => "/office/".into(),
    }
}

fn login_view(v: LoginView, status: StatusCode) -> Response {
    let mut r = match v.render() {
        Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the page failed to render").into_response(),
    };
    secure(&mut r, None);
    r
}

/// `GET /office`: to the home page.
#[utoipa::path(get, path = "/office", tag = "office", responses((status = 308, description = "to /office/")))]
pub(crate) async fn root() -> Response {
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, "/office/")]).into_response()
}

/// `GET /office/login`: the login page.
#[utoipa::path(get, path = "/office/login", tag = "office",
    responses((status = 200, body = String, content_type = "text/html")))]
pub(crate) async fn login_page(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    q_: QueryIn<NextQuery>,
) -> Response {
    let q = q_.ok();
    let next = safe_next(q.as_ref().and_then(|q| q.next.as_deref()));
    login_view(
        LoginView {
            error: String::new(),
            next,
            email: String::new(),
            tenant: String::new(),
            several: state.single().is_none(),
        },
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    email: String,
    password: String,
    tenant: Option<String>,
    next: Option<String>,
}

/// `POST /office/login`: a form login; sets the session and CSRF cookies and goes on to
/// the page asked for.
#[utoipa::path(post, path = "/office/login", tag = "office",
    request_body(content_type = "application/x-www-form-urlencoded", content = Object),
    responses((status = 303, description = "logged in"), (status = 401, body = String, content_type = "text/html")))]
pub(crate) async fn login(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    addr: Option<Extension<ConnectInfo<SocketAddr>>>,
    form_: FormIn<LoginForm>,
) -> Response {
    let form = form_.ok();
    let several = state.single().is_none();
    let Some(axum::Form(form)) = form else {
        let v = LoginView {
            error: "Give your e-mail and password.".into(),
            next: "/office/".into(),
            email: String::new(),
            tenant: String::new(),
            several,
        };
        return login_view(v, StatusCode::BAD_REQUEST);
    };
    let next = safe_next(form.next.as_deref());
    let fail = |message: String, status: StatusCode, retry: Option<u64>| {
        let v = LoginView {
            error: message,
            next: next.clone(),
            email: form.email.clone(),
            tenant: form.tenant.clone().unwrap_or_default(),
            several,
        };
        let mut r = login_view(v, status);
        if let Some(s) = retry {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    };
    let address = addr.map_or_else(|| "unknown".to_string(), |a| a.0.0.ip().to_string());
    if let Err(e) = state.limiter.attempt("login", &form.email.trim().to_lowercase(), &address) {
        return fail(e.message, StatusCode::TOO_MANY_REQUESTS, e.retry_after);
    }
    let tenant = match (form.tenant.as_deref().filter(|t| !t.is_empty()), state.single()) {
        (Some(name), _) => state.tenants.get(name).cloned(),
        (None, Some(t)) => Some(t.clone()),
        (None, None) => None,
    };
    let Some(tenant) = tenant else {
        return fail("Wrong e-mail, password or retailer.".into(), StatusCode::UNAUTHORIZED, None);
    };
    let hours = state.config.session_hours;
    let app = tenant.app.clone();
    let (email, password) = (form.email.clone(), form.password.clone());
    let session = crate::routes::blocking(move || app.login(&email, &password, hours, Some(&address))).await;
    let session = match session {
        Ok(s) => s,
        Err(e) if e.code == Code::Unauthorized => {
            metrics::counter!("unico_login_failures_total").increment(1);
            return fail("Wrong e-mail, password or retailer.".into(), StatusCode::UNAUTHORIZED, None);
        }
        Err(e) => {
            return fail(
                e.message,
                StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
                None,
            );
        }
    };
    let token = format!("{}.{}", tenant.name, session.token);
    let mut r = see_other(&next);
    for cookie in crate::auth::session_cookies(&token, hours, state.config.secure_cookies) {
        r.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie text is ASCII"));
    }
    r
}

/// `POST /office/logout`: ends the session; back to the login page.
#[utoipa::path(post, path = "/office/logout", tag = "office", responses((status = 303, description = "logged out")))]
pub(crate) async fn logout(Extension(ctx): Extension<Ctx>, headers: HeaderMap) -> Response {
    if let Some(token) = crate::auth::cookie(&headers, SESSION_COOKIE) {
        let secret = token.split_once('.').map(|(_, s)| s.to_string()).unwrap_or_default();
        let app = ctx.tenant.app.clone();
        let _ = crate::routes::blocking(move || app.logout(&secret)).await;
    }
    let mut r = see_other("/office/login");
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        let cookie = format!("{name}=; Path=/; Max-Age=0");
        r.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("ASCII"));
    }
    r
}

const FILES: &[(&str, &str, &[u8])] =
    &[("office.css", "text/css; charset=utf-8", include_bytes!("../../web/office/office.css"))];

/// `GET /office/static/{file}`: the pages' style sheet.
#[utoipa::path(get, path = "/office/static/{file}", tag = "office", params(("file" = String, Path)),
    responses((status = 200, body = String, content_type = "text/css")))]
pub(crate) async fn static_file(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let Some((_, kind, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return ApiError::new(Code::NotFound, "no such file").into_response();
    };
    let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, *kind)], *bytes).into_response();
    secure(&mut r, None);
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
