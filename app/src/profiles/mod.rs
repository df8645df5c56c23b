//! User profiles: `/profiles/` and `/profiles/<username>/`.

pub mod model;
pub mod views;

use actix_web::web;

use crate::http::get_or_head;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/profiles/").route(get_or_head().to(views::index)))
        .service(web::resource("/profiles/{username}/").route(get_or_head().to(views::detail)));
}
