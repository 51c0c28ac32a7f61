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
        crate::routes::import, crate::routes::quality, crate::routes::model, crate::routes::model_build,
        crate::routes::validate_policy, crate::routes::campaigns, crate::routes::plan, crate::routes::publish,
        crate::routes::stop, crate::routes::measure,
        crate::routes::kpis, crate::routes::goals, crate::routes::add_goal, crate::routes::outbox,
        crate::routes::lookup, crate::routes::customer, crate::routes::profile, crate::routes::consent,
        crate::routes::export, crate::routes::erase,
        crate::routes::duplicates, crate::routes::merge, crate::routes::unmerge,
    ),
    modifiers(&Bearer),
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
    }
}

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
