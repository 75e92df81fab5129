//! The website port: health and metrics endpoints here; the buyer site and the admin pages
//! mount their routes from their own modules.

pub mod health;

use actix_web::web;

/// Registers every route of the website port.
pub fn routes(cfg: &mut web::ServiceConfig) {
    health::routes(cfg);
    crate::notify::unsubscribe::routes(cfg);
}
