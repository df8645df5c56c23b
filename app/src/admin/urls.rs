//! Every admin URL in one place: the patterns the routes answer and the links the pages
//! draw (Django's `admin:<app>_<model>_<page>` URL names, as functions). Nothing else in
//! the crate or its templates spells an admin path: a page gets its links from here.

use serde::Serialize;

use super::model::ModelMeta;

pub const INDEX: &str = "/admin/";
pub const LOGIN: &str = "/admin/login/";
pub const LOGOUT: &str = "/admin/logout/";
pub const PASSWORD_CHANGE: &str = "/admin/password_change/";
pub const PASSWORD_CHANGE_DONE: &str = "/admin/password_change/done/";
pub const AUTOCOMPLETE: &str = "/admin/autocomplete/";
/// The login's second step: the code, after the password.
pub const LOGIN_TWO_FACTOR: &str = "/admin/login/two_factor/";
/// A staff member's own second factor: its state, and the form that starts an enrolment.
pub const TWO_FACTOR: &str = "/admin/two_factor/";
pub const TWO_FACTOR_SETUP: &str = "/admin/two_factor/setup/";
pub const TWO_FACTOR_CODES: &str = "/admin/two_factor/recovery_codes/";
pub const TWO_FACTOR_DISABLE: &str = "/admin/two_factor/disable/";
/// Every user's history entries, for superusers.
pub const AUDIT: &str = "/admin/audit/";
pub const DEBUG_ERROR: &str = "/admin/debug/error/";
pub const DEBUG_PANIC: &str = "/admin/debug/panic/";

/// The routes' patterns of a model's pages.
pub mod pattern {
    /// An app's index (its models), registered after every fixed one-part URL.
    pub const APP: &str = "/admin/{app}/";
    pub const LIST: &str = "/admin/{app}/{model}/";
    pub const ADD: &str = "/admin/{app}/{model}/add/";
    pub const CHANGE: &str = "/admin/{app}/{model}/{id}/change/";
    pub const DELETE: &str = "/admin/{app}/{model}/{id}/delete/";
    pub const HISTORY: &str = "/admin/{app}/{model}/{id}/history/";
    /// A model's own object pages (a user's password form), after the fixed ones.
    pub const ACTION: &str = "/admin/{app}/{model}/{id}/{action}/";
}

/// The login page, then back to `next` (a path of this site).
pub fn login_then(next: &str) -> String {
    format!(
        "{LOGIN}?next={}",
        percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// A model's list, by its app and model names.
/// An app's index page (`/admin/lettings/`).
pub fn app_index(app: &str) -> String {
    format!("{INDEX}{app}/")
}

pub fn list_of(app: &str, model: &str) -> String {
    format!("/admin/{app}/{model}/")
}

pub fn list(meta: &ModelMeta) -> String {
    list_of(meta.app, meta.name)
}

pub fn add(meta: &ModelMeta) -> String {
    format!("{}add/", list(meta))
}

pub fn change(meta: &ModelMeta, id: i32) -> String {
    format!("{}{id}/change/", list(meta))
}

/// A change page with `__fk__` for the row's id (Django's `data-href-template`), for the
/// related-object links a script points at a row chosen in a popup.
pub fn change_template(meta: &ModelMeta) -> String {
    format!("{}__fk__/change/", list(meta))
}

pub fn delete(meta: &ModelMeta, id: i32) -> String {
    format!("{}{id}/delete/", list(meta))
}

pub fn history(meta: &ModelMeta, id: i32) -> String {
    format!("{}{id}/history/", list(meta))
}

/// Object `id`'s page of the action named `slug`.
pub fn action(meta: &ModelMeta, id: i32, slug: &str) -> String {
    format!("{}{id}/{slug}/", list(meta))
}

/// The fixed URLs every admin page may link to, for the templates (`admin_urls.index`…).
#[derive(Debug, Serialize)]
pub struct Fixed {
    pub index: &'static str,
    pub login: &'static str,
    pub logout: &'static str,
    pub password_change: &'static str,
    pub autocomplete: &'static str,
    pub login_two_factor: &'static str,
    pub two_factor: &'static str,
    pub two_factor_setup: &'static str,
    pub two_factor_codes: &'static str,
    pub two_factor_disable: &'static str,
    pub audit: &'static str,
}

pub const FIXED: Fixed = Fixed {
    index: INDEX,
    login: LOGIN,
    logout: LOGOUT,
    password_change: PASSWORD_CHANGE,
    autocomplete: AUTOCOMPLETE,
    login_two_factor: LOGIN_TWO_FACTOR,
    two_factor: TWO_FACTOR,
    two_factor_setup: TWO_FACTOR_SETUP,
    two_factor_codes: TWO_FACTOR_CODES,
    two_factor_disable: TWO_FACTOR_DISABLE,
    audit: AUDIT,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_models_links_follow_its_route_patterns() {
        let meta = crate::admin::model::find("lettings", "letting").unwrap().meta();
        let fill = |pattern: &str| {
            pattern
                .replace("{app}", "lettings")
                .replace("{model}", "letting")
                .replace("{id}", "7")
                .replace("{action}", "password")
        };
        assert_eq!(list(meta), fill(pattern::LIST));
        assert_eq!(app_index(meta.app), fill(pattern::APP));
        assert_eq!(add(meta), fill(pattern::ADD));
        assert_eq!(change(meta, 7), fill(pattern::CHANGE));
        assert_eq!(delete(meta, 7), fill(pattern::DELETE));
        assert_eq!(history(meta, 7), fill(pattern::HISTORY));
        assert_eq!(action(meta, 7, "password"), fill(pattern::ACTION));
        for fixed in [
            LOGIN,
            LOGOUT,
            PASSWORD_CHANGE,
            PASSWORD_CHANGE_DONE,
            AUTOCOMPLETE,
            DEBUG_ERROR,
            DEBUG_PANIC,
            LOGIN_TWO_FACTOR,
            TWO_FACTOR,
            TWO_FACTOR_SETUP,
            TWO_FACTOR_CODES,
            TWO_FACTOR_DISABLE,
            AUDIT,
        ] {
            assert!(fixed.starts_with(INDEX) && fixed.ends_with('/'), "{fixed}");
        }
    }
}
