//! Every error the API answers with: `{"error": {"code", "message", "field"}}`, the status
//! from the service layer's code (docs/errors.md).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use unico_app::Code;
use utoipa::ToSchema;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    /// The stable code.
    pub code: Code,
    /// What went wrong, for a person.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
    /// Seconds to wait (429).
    pub retry_after: Option<u64>,
}

/// The body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error's code, message and field.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine code (docs/errors.md), e.g. `customer.not_found`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The request field at fault, if one is.
    pub field: Option<String>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), field: None, retry_after: None }
    }

    /// The field at fault.
    pub fn field(mut self, field: &str) -> ApiError {
        self.field = Some(field.to_string());
        self
    }

    /// Not logged in.
    pub fn unauthorized() -> ApiError {
        ApiError::new(Code::Unauthorized, "log in first: send Authorization: Bearer <token>")
    }

    /// Not allowed.
    pub fn forbidden(why: impl Into<String>) -> ApiError {
        ApiError::new(Code::Forbidden, why)
    }
}

impl From<unico_app::Error> for ApiError {
    fn from(e: unico_app::Error) -> ApiError {
        // The message a person can act on, with its causes; never a stack or a secret (the
        // service layer redacts passwords in URLs).
        let mut message = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            message.push_str(&format!(": {c}"));
            cause = c.source();
        }
        for p in e.problems() {
            message.push_str(&format!("\nline {}: {}", p.line, p.message));
        }
        if e.code().http_status() >= 500 {
            tracing::error!(code = e.code().as_str(), "{message}");
        }
        ApiError { code: e.code(), message, field: None, retry_after: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.as_str().to_string(), message: self.message, field: self.field },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
