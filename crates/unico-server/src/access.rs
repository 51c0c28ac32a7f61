//! Who may call what: the role × route matrix, the one place it is written in code.
//!
//! Every route of the router is in [`MATRIX`] (a test checks both ways, and that
//! `docs/api.md` shows the same table); the `authorize` middleware looks the matched route
//! up and refuses the caller before any handler runs.

use unico_app::staff::Role;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a login (health, metrics, the API description, login).
    Public,
    /// Any logged-in user, whatever their role.
    AnyUser,
    /// Logged-in users with one of these roles.
    Roles(&'static [Role]),
    /// A till or web shop with its terminal token (`unico terminals add`), no user.
    Till,
    /// A shopper logged in to the app (`POST /api/v1/app/login`): their own data only.
    Shopper,
}

use Role::{Admin as A, Marketing as M, StoreManager as S, Support as U};

const ADMIN: Access = Access::Roles(&[A]);
const DATA: Access = Access::Roles(&[A, M]);
const KPIS: Access = Access::Roles(&[A, M, S]);
const PERSONAL: Access = Access::Roles(&[A, U]);
const PROFILE: Access = Access::Roles(&[A, M, U]);
const TICKETS: Access = Access::Roles(&[A, S, U]);
const ORDERS: Access = Access::Roles(&[A, S]);
const SHOPPER: Access = Access::Shopper;
const PUBLIC: Access = Access::Public;

/// Every route: method, path (as the router writes it) and who may call it.
pub const MATRIX: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Access::Public),
    ("GET", "/readyz", Access::Public),
    ("GET", "/metrics", Access::Public),
    ("GET", "/api/v1/openapi.json", Access::Public),
    ("POST", "/api/v1/auth/login", Access::Public),
    ("POST", "/api/v1/auth/logout", Access::AnyUser),
    ("GET", "/api/v1/me", Access::AnyUser),
    ("GET", "/api/v1/users", ADMIN),
    ("POST", "/api/v1/users", ADMIN),
    ("POST", "/api/v1/users/{email}/disable", ADMIN),
    ("GET", "/api/v1/audit", ADMIN),
    ("GET", "/api/v1/webhooks", ADMIN),
    ("POST", "/api/v1/webhooks", ADMIN),
    ("DELETE", "/api/v1/webhooks/{id}", ADMIN),
    ("GET", "/api/v1/webhooks/deliveries", ADMIN),
    ("POST", "/api/v1/webhooks/deliveries/{id}/resend", ADMIN),
    ("GET", "/api/v1/jobs", DATA),
    ("GET", "/api/v1/jobs/{id}", DATA),
    ("POST", "/api/v1/imports/{dataset}", DATA),
    ("GET", "/api/v1/quality", DATA),
    ("GET", "/api/v1/model", DATA),
    ("POST", "/api/v1/recommendations", DATA),
    ("GET", "/api/v1/exports", DATA),
    ("GET", "/api/v1/exports/{name}", DATA),
    ("POST", "/api/v1/model/build", DATA),
    ("POST", "/api/v1/policies/validate", DATA),
    ("GET", "/api/v1/policies", DATA),
    ("GET", "/api/v1/policies/{id}", DATA),
    ("GET", "/api/v1/campaigns", DATA),
    ("POST", "/api/v1/campaigns/plan", DATA),
    ("POST", "/api/v1/campaigns/{id}/publish", DATA),
    ("POST", "/api/v1/campaigns/{id}/stop", DATA),
    ("GET", "/api/v1/campaigns/{id}/measure", DATA),
    ("POST", "/api/v1/campaigns/{id}/learn", DATA),
    ("GET", "/api/v1/kpis", KPIS),
    ("GET", "/api/v1/goals", KPIS),
    ("POST", "/api/v1/goals", DATA),
    ("GET", "/api/v1/outbox", DATA),
    ("POST", "/api/v1/customers/lookup", PROFILE),
    ("GET", "/api/v1/customers/{id}", PERSONAL),
    ("GET", "/api/v1/customers/{id}/profile", PROFILE),
    ("PUT", "/api/v1/customers/{id}/consents/{purpose}", PERSONAL),
    ("GET", "/api/v1/customers/{id}/export", PERSONAL),
    ("DELETE", "/api/v1/customers/{id}", PERSONAL),
    ("GET", "/api/v1/duplicates", PERSONAL),
    ("POST", "/api/v1/duplicates/merge", PERSONAL),
    ("POST", "/api/v1/duplicates/unmerge", PERSONAL),
    ("POST", "/api/v1/pos/evaluate", Access::Till),
    ("POST", "/api/v1/pos/confirm", Access::Till),
    ("POST", "/api/v1/pos/void", Access::Till),
    ("POST", "/api/v1/pos/refund", Access::Till),
    ("POST", "/api/v1/privacy/policies", ADMIN),
    ("GET", "/api/v1/promotions", DATA),
    ("POST", "/api/v1/promotions", DATA),
    ("POST", "/api/v1/flyer/send", DATA),
    ("GET", "/api/v1/tickets", TICKETS),
    ("GET", "/api/v1/tickets/{id}", TICKETS),
    ("POST", "/api/v1/tickets/{id}/reply", TICKETS),
    ("POST", "/api/v1/app/register", PUBLIC),
    ("POST", "/api/v1/app/register/confirm", PUBLIC),
    ("POST", "/api/v1/app/login", PUBLIC),
    ("GET", "/api/v1/app/privacy", PUBLIC),
    ("GET", "/api/v1/app/flyer/shared/{token}", PUBLIC),
    ("GET", "/u/{token}", PUBLIC),
    ("POST", "/api/v1/app/logout", SHOPPER),
    ("GET", "/api/v1/app/me", SHOPPER),
    ("DELETE", "/api/v1/app/me", SHOPPER),
    ("GET", "/api/v1/app/offers", SHOPPER),
    ("POST", "/api/v1/app/offers/{code}/activate", SHOPPER),
    ("PUT", "/api/v1/app/consents", SHOPPER),
    ("POST", "/api/v1/app/privacy/accept", SHOPPER),
    ("GET", "/api/v1/app/export", SHOPPER),
    ("PUT", "/api/v1/app/store", SHOPPER),
    ("GET", "/api/v1/app/stores", SHOPPER),
    ("GET", "/api/v1/app/products", SHOPPER),
    ("GET", "/api/v1/app/flyer", SHOPPER),
    ("POST", "/api/v1/app/flyer/send", SHOPPER),
    ("POST", "/api/v1/app/flyer/link", SHOPPER),
    ("GET", "/api/v1/app/tickets", SHOPPER),
    ("POST", "/api/v1/app/tickets", SHOPPER),
    ("GET", "/api/v1/app/tickets/{id}", SHOPPER),
    ("POST", "/api/v1/app/tickets/{id}/messages", SHOPPER),
    ("POST", "/api/v1/app/surveys", SHOPPER),
    ("GET", "/api/v1/app/catalogue", SHOPPER),
    ("POST", "/api/v1/app/basket", SHOPPER),
    ("GET", "/api/v1/app/stores/{store_id}/slots", SHOPPER),
    ("GET", "/api/v1/app/orders", SHOPPER),
    ("POST", "/api/v1/app/orders", SHOPPER),
    ("GET", "/api/v1/app/orders/{id}", SHOPPER),
    ("POST", "/api/v1/app/orders/{id}/cancel", SHOPPER),
    ("GET", "/api/v1/slots", ORDERS),
    ("POST", "/api/v1/slots", ORDERS),
    ("PUT", "/api/v1/slots/{id}", ORDERS),
    ("GET", "/api/v1/orders", ORDERS),
    ("GET", "/api/v1/orders/{id}", ORDERS),
    ("POST", "/api/v1/orders/{id}/lines/{line_no}", ORDERS),
    ("POST", "/api/v1/orders/{id}/ready", ORDERS),
    ("POST", "/api/v1/orders/{id}/collected", ORDERS),
    ("POST", "/api/v1/orders/{id}/not-collected", ORDERS),
    ("GET", "/office", PUBLIC),
    ("GET", "/office/login", PUBLIC),
    ("POST", "/office/login", PUBLIC),
    ("GET", "/office/static/{file}", PUBLIC),
    ("POST", "/office/logout", Access::AnyUser),
    ("GET", "/office/", Access::AnyUser),
    ("GET", "/office/kpis", KPIS),
    ("GET", "/office/kpis.csv", KPIS),
    ("GET", "/office/campaigns", DATA),
    ("POST", "/office/campaigns/plan", DATA),
    ("GET", "/office/campaigns/{id}", DATA),
    ("POST", "/office/campaigns/{id}/publish", DATA),
    ("POST", "/office/campaigns/{id}/stop", DATA),
    ("GET", "/office/jobs/{id}", DATA),
    ("GET", "/office/customers", PROFILE),
    ("GET", "/office/customers/{id}", PROFILE),
    ("GET", "/office/customers/{id}/export", PERSONAL),
    ("GET", "/office/customers/{id}/erase", PERSONAL),
    ("POST", "/office/customers/{id}/erase", PERSONAL),
    ("GET", "/office/duplicates", PERSONAL),
    ("POST", "/office/duplicates/merge", PERSONAL),
    ("POST", "/office/duplicates/unmerge", PERSONAL),
    ("GET", "/office/data", DATA),
    ("POST", "/office/data/upload", DATA),
    ("GET", "/office/data/rejects/{file}", DATA),
    ("POST", "/office/data/model", DATA),
    ("GET", "/office/tickets", TICKETS),
    ("GET", "/office/tickets/{id}", TICKETS),
    ("POST", "/office/tickets/{id}/reply", TICKETS),
    ("GET", "/office/orders", ORDERS),
    ("POST", "/office/orders/slots", ORDERS),
    ("GET", "/office/orders/{id}", ORDERS),
    ("POST", "/office/orders/{id}/lines/{line_no}", ORDERS),
    ("POST", "/office/orders/{id}/state", ORDERS),
    ("GET", "/office/admin", ADMIN),
    ("POST", "/office/admin/users", ADMIN),
    ("POST", "/office/admin/users/{email}/disable", ADMIN),
    ("POST", "/office/admin/privacy", ADMIN),
    ("GET", "/app", PUBLIC),
    ("GET", "/app/", PUBLIC),
    ("GET", "/app/{file}", PUBLIC),
];

/// Who may call `method path`, if it is a route.
pub fn access(method: &str, path: &str) -> Option<Access> {
    MATRIX.iter().find(|(m, p, _)| *m == method && *p == path).map(|(_, _, a)| *a)
}

impl Access {
    /// Whether a user with `role` may call the route.
    pub fn allows(self, role: Role) -> bool {
        match self {
            Access::Public | Access::AnyUser => true,
            Access::Roles(roles) => roles.contains(&role),
            Access::Till | Access::Shopper => false,
        }
    }

    /// The cell of the docs' table for `role`.
    pub fn cell(self, role: Role) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Till => "till token",
            Access::Shopper => "shopper token",
            _ if self.allows(role) => "yes",
            _ => "—",
        }
    }
}
