//! HTTP helpers with no state, for every layer's routes: a route answering GET and HEAD.

use actix_web::{guard, web, Route};

/// A route answering GET and HEAD (actix sends HEAD responses without their body).
pub fn get_or_head() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}
