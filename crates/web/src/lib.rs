//! HTTP on top of lambda_http, shared by every HTTP function and the local stack: request and
//! body parsing, content negotiation, the one mapping from errors to responses, CORS, operator
//! request signatures, pl/en pages and mails, and the composition of a running app.

pub mod access_page;
pub mod app;
pub mod auth;
pub mod body;
pub mod error;
pub mod mailer;
pub mod pages;
pub mod request;
pub mod respond;
pub mod routes;
pub mod telemetry;

pub use app::{App, Zgoda};
pub use error::ApiError;
pub use lambda_http::{Body, Request, Response};
