//! The API's description, OpenAPI 3.1, generated from the handlers' annotations and the
//! request and response types (utoipa), served at `/api/v1/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Unico back office API", description = "The back office's API: users and roles, data, models, campaigns, KPIs, customers. See docs/api.md."),
    paths(
        crate::routes::healthz, crate::routes::readyz, crate::routes::metrics, crate::routes::openapi,
        crate::auth::login, crate::auth::logout, crate::auth::me,
        crate::routes::users, crate::routes::add_user, crate::routes::disable_user, crate::routes::audit,
        crate::routes::jobs_list, crate::routes::job,
        crate::routes::import, crate::routes::quality, crate::routes::model, crate::routes::model_build, crate::routes::recommend, crate::routes::exports, crate::routes::download,
        crate::routes::validate_policy, crate::routes::policies, crate::routes::policy, crate::routes::campaigns, crate::routes::plan, crate::routes::publish,
        crate::routes::stop, crate::routes::measure, crate::routes::learn,
        crate::routes::kpis, crate::routes::goals, crate::routes::add_goal, crate::routes::outbox,
        crate::routes::lookup, crate::routes::customer, crate::routes::profile, crate::routes::consent,
        crate::routes::export, crate::routes::erase,
        crate::routes::duplicates, crate::routes::merge, crate::routes::unmerge,
        crate::routes::webhooks, crate::routes::add_webhook, crate::routes::remove_webhook,
        crate::routes::deliveries, crate::routes::resend,
        crate::pos::evaluate, crate::pos::confirm, crate::pos::void, crate::pos::refund,
        crate::shopper::publish_policy, crate::shopper::promotions, crate::shopper::add_promotions, crate::shopper::send_flyers,
        crate::shopper::store_tickets, crate::shopper::store_ticket, crate::shopper::store_reply,
        crate::shopper::register, crate::shopper::confirm, crate::shopper::login, crate::shopper::privacy,
        crate::shopper::shared_flyer, crate::shopper::unsubscribe, crate::shopper::logout, crate::shopper::me, crate::shopper::delete_me,
        crate::shopper::offers, crate::shopper::activate, crate::shopper::consents, crate::shopper::accept,
        crate::shopper::export, crate::shopper::set_store, crate::shopper::stores, crate::shopper::products,
        crate::shopper::flyer, crate::shopper::send_flyer, crate::shopper::flyer_link, crate::shopper::tickets,
        crate::shopper::open_ticket, crate::shopper::ticket, crate::shopper::reply, crate::shopper::survey,
        crate::orders::catalogue, crate::orders::basket, crate::orders::app_slots, crate::orders::place,
        crate::orders::app_orders, crate::orders::app_order, crate::orders::cancel, crate::orders::slots,
        crate::orders::add_slots, crate::orders::set_capacity, crate::orders::orders, crate::orders::order,
        crate::orders::pick, crate::orders::ready, crate::orders::collected, crate::orders::not_collected,
        crate::web::app_root, crate::web::app_index, crate::web::app_file,
        crate::office::root, crate::office::login_page, crate::office::login, crate::office::logout,
        crate::office::static_file, crate::office::home, crate::office::kpis, crate::office::kpis_csv,
        crate::office::campaigns, crate::office::plan, crate::office::campaign, crate::office::publish,
        crate::office::stop, crate::office::job, crate::office::customers, crate::office::customer,
        crate::office::customer_export, crate::office::erase_confirm, crate::office::erase,
        crate::office::duplicates, crate::office::merge, crate::office::unmerge, crate::office::data,
        crate::office::upload, crate::office::rejects, crate::office::build_model, crate::office::tickets,
        crate::office::ticket, crate::office::reply, crate::office::admin, crate::office::add_user,
        crate::office::disable_user, crate::office::publish_privacy, crate::office::orders, crate::office::add_slots,
        crate::office::order, crate::office::pick, crate::office::set_state,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&Bearer, &Errors),
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "till",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a till's token from `unico terminals add`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "shopper",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a shopper's token from `POST /api/v1/app/login`"))
                    .build(),
            ),
        );
    }
}

/// The error answers every route may give, documented on each operation: 400 (a body,
/// query or path that does not parse or is out of range), 401 and 403 on routes that need
/// a login, 404 where the path names something, 409 (refused in the current state), 422 where
/// the request changes something, 413 where it carries a body; all with the one error body.
struct Errors;

impl Modify for Errors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::Ref;
        use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
        let error = |what: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(what)
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                    )
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = matches!(
                crate::access::access("GET", path).or(crate::access::access("POST", path)),
                Some(crate::access::Access::Public)
            );
            for (changes, op) in
                [(false, &mut item.get), (true, &mut item.post), (true, &mut item.put), (true, &mut item.delete)]
            {
                let Some(op) = op.as_mut() else { continue };
                let r = &mut op.responses.responses;
                let mut add = |code: &str, what: &str| {
                    r.entry(code.to_string()).or_insert_with(|| error(what));
                };
                if path.starts_with("/app") {
                    // The app's files: there, or not.
                    add("404", "no such file");
                    continue;
                }
                add("400", "the request does not parse or a value is out of range");
                if !public {
                    add("401", "not logged in, or the session has ended");
                    add("403", "the caller's role may not call this route");
                }
                if path.contains('{') {
                    add("404", "what the path names does not exist");
                }
                add("409", "refused in the current state (no model yet, an empty lake, a writer at work)");
                if changes {
                    add("413", "the body is larger than the server accepts");
                    add("422", "the request is understood but cannot be carried out");
                }
            }
        }
    }
}

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
