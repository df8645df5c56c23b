//! Lettings and their addresses: `/lettings/` and `/lettings/<id>/`.

pub mod model;
pub mod views;

use actix_web::web;

use crate::http::get_or_head;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/lettings/").route(get_or_head().to(views::index)))
        .service(web::resource("/lettings/{id}/").route(get_or_head().to(views::detail)));
}
