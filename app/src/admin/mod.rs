//! The admin (`/admin/`): staff log in, then list, search, add, change and delete
//! addresses, lettings, profiles and users, as in Django's admin.

pub mod audit;
pub mod auth;
pub mod autocomplete;
pub mod changelist;
pub mod debug;
pub mod device;
pub mod extract;
pub mod history;
pub mod inline;
pub mod model;
pub mod models;
pub mod password;
pub mod permissions;
pub mod render;
pub mod request;
pub mod session;
pub mod throttle;
pub mod two_factor;
pub mod urls;
pub mod views;

use actix_web::web;

use crate::http::get_or_head;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(urls::INDEX).route(get_or_head().to(views::index)))
        .service(web::resource(urls::AUTOCOMPLETE).route(get_or_head().to(autocomplete::autocomplete)))
        .service(
            web::resource(urls::LOGIN)
                .route(get_or_head().to(auth::login_form))
                .route(web::post().to(auth::login)),
        )
        .service(
            web::resource(urls::LOGOUT)
                .route(get_or_head().to(auth::logout_confirm))
                .route(web::post().to(auth::logout)),
        )
        .service(
            web::resource(urls::PASSWORD_CHANGE)
                .route(get_or_head().to(password::change_form))
                .route(web::post().to(password::change)),
        )
        .service(web::resource(urls::PASSWORD_CHANGE_DONE).route(get_or_head().to(password::done)))
        .service(
            web::resource(urls::LOGIN_TWO_FACTOR)
                .route(get_or_head().to(two_factor::code_form))
                .route(web::post().to(two_factor::code)),
        )
        .service(
            web::resource(urls::TWO_FACTOR)
                .route(get_or_head().to(two_factor::status))
                .route(web::post().to(two_factor::start)),
        )
        .service(
            web::resource(urls::TWO_FACTOR_SETUP)
                .route(get_or_head().to(two_factor::setup_form))
                .route(web::post().to(two_factor::confirm)),
        )
        .service(web::resource(urls::AUDIT).route(get_or_head().to(audit::audit_log)))
        .service(web::resource(urls::TWO_FACTOR_CODES).route(web::post().to(two_factor::new_codes)))
        .service(web::resource(urls::TWO_FACTOR_DISABLE).route(web::post().to(two_factor::disable)))
        .service(
            web::resource(urls::DEBUG_ERROR)
                .route(get_or_head().to(debug::error_form))
                .route(web::post().to(debug::error)),
        )
        .service(
            web::resource(urls::DEBUG_PANIC)
                .route(get_or_head().to(debug::panic_form))
                .route(web::post().to(debug::panic)),
        )
        .service(
            web::resource(urls::pattern::LIST)
                .route(get_or_head().to(changelist::changelist))
                .route(web::post().to(changelist::action)),
        )
        .service(
            web::resource(urls::pattern::ADD)
                .route(get_or_head().to(views::add_form))
                .route(web::post().to(views::add)),
        )
        .service(
            web::resource(urls::pattern::CHANGE)
                .route(get_or_head().to(views::change_form))
                .route(web::post().to(views::change)),
        )
        .service(
            web::resource(urls::pattern::DELETE)
                .route(get_or_head().to(views::delete_form))
                .route(web::post().to(views::delete)),
        )
        .service(web::resource(urls::pattern::HISTORY).route(get_or_head().to(views::object_history)))
        // Each model's own object pages (a user's password form), after the fixed ones.
        .service(
            web::resource(urls::pattern::ACTION)
                .route(get_or_head().to(views::action_form))
                .route(web::post().to(views::action)),
        )
        // An app's index, after every fixed one-part URL (`/admin/audit/`…).
        .service(web::resource(urls::pattern::APP).route(get_or_head().to(views::app_index)));
}
