//! `/admin/autocomplete/`: the search behind a foreign key's widget, as Django's
//! `AutocompleteJsonView` answers it. `?app_label=lettings&model_name=letting&field_name=address&term=bed&page=2`
//! names the form's model and its foreign key; the answer is that key's model's rows
//! matching `term` (its admin search), [`PER_PAGE`] at a time, as
//! `{"results": [{"id": "12", "text": "7217 Bedford Street"}], "pagination": {"more": true}}`.
//!
//! Who may ask: a staff member who may view the related model (Django's rule); anyone
//! else, and any request naming no foreign key of a registered model, gets a 403 that
//! says nothing of the rows. A junk or past-the-end `page` is a 404, as Django's.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::extract::StaffUser;
use super::model::{find, AdminModel, ListQuery};
use super::views::{model_for, Need, Page};
use crate::errors::AppError;
use crate::forms::{FieldKind, FieldSpec};
use crate::pagination::PageRequest;
use crate::state::AppState;

/// Rows per page of results (Django's `AutocompleteJsonView.paginate_by`).
pub const PER_PAGE: u32 = 20;

/// The longest search term looked for (the list's search box takes as much).
const MAX_TERM_CHARS: usize = 200;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Results {
    pub results: Vec<Choice>,
    pub pagination: More,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Choice {
    /// As Django sends it: the key as text.
    pub id: String,
    pub text: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct More {
    pub more: bool,
}

/// The request's parameters (each at most once; a repeated one counts as absent).
#[derive(Debug, Default)]
struct Params {
    app_label: String,
    model_name: String,
    field_name: String,
    term: String,
}

fn params(query_string: &str) -> Params {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string).unwrap_or_default();
    let one = |key: &str| {
        let mut values = pairs.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(value), None) => value.to_owned(),
            _ => String::new(),
        }
    };
    Params {
        app_label: one("app_label"),
        model_name: one("model_name"),
        field_name: one("field_name"),
        term: one("term"),
    }
}

/// The model that the form's foreign key `field_name` points to, if the form's model is
/// registered and has such a key.
pub fn related_model(app: &str, model: &str, field_name: &str) -> Option<&'static dyn AdminModel> {
    let source = find(app, model)?;
    let meta = source.meta();
    let spec: &FieldSpec = meta
        .add_fields
        .iter()
        .chain(meta.change_fields)
        .find(|spec| spec.name == field_name)?;
    match spec.kind {
        FieldKind::ForeignKey { app, model } => find(app, model),
        _ => None,
    }
}

/// One page of `related`'s rows matching `term`: a term holding a NUL matches nothing
/// (PostgreSQL refuses one in text), a longer one is cut.
pub fn search(
    conn: &mut crate::db::DbConnection,
    related: &dyn AdminModel,
    term: &str,
    page: PageRequest,
) -> Result<Results, crate::db::DbError> {
    if term.contains('\0') {
        return Ok(Results {
            results: Vec::new(),
            pagination: More { more: false },
        });
    }
    let query = ListQuery {
        search: term.chars().take(MAX_TERM_CHARS).collect(),
        page: 1,
        ..ListQuery::default()
    };
    let query = query.on(conn);
    let mut rows = related.lookup(conn, &query, page.offset(), page.limit())?;
    let more = rows.len() > page.size as usize;
    rows.truncate(page.size as usize);
    Ok(Results {
        results: rows
            .into_iter()
            .map(|(id, text)| Choice {
                id: id.to_string(),
                text,
            })
            .collect(),
        pagination: More { more },
    })
}

/// `GET /admin/autocomplete/`
pub async fn autocomplete(req: HttpRequest, state: web::Data<AppState>, StaffUser(staff): StaffUser) -> Page {
    let params = params(req.query_string());
    let related = related_model(&params.app_label, &params.model_name, &params.field_name)
        .ok_or_else(|| AppError::Forbidden("No such foreign key.".into()))?;
    let related_meta = related.meta();
    let related = model_for(&staff, related_meta.app, related_meta.name, Need::View)?;
    let page = PageRequest::from_query(req.query_string(), PER_PAGE).ok_or(AppError::NotFound)?;
    let term = params.term;
    let results = state.db.run(move |conn| search(conn, related, &term, page)).await?;
    if results.results.is_empty() && page.number > 1 {
        return Err(AppError::NotFound);
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "private, no-store"))
        .json(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_registered_models_foreign_key_has_a_related_model() {
        let meta = |m: Option<&'static dyn AdminModel>| m.map(|m| m.meta().url());
        assert_eq!(
            meta(related_model("lettings", "letting", "address")).as_deref(),
            Some("/admin/lettings/address/")
        );
        assert_eq!(
            meta(related_model("profiles", "profile", "user")).as_deref(),
            Some("/admin/auth/user/")
        );
        assert!(related_model("lettings", "letting", "title").is_none(), "not a key");
        assert!(related_model("lettings", "letting", "nope").is_none());
        assert!(related_model("lettings", "nope", "address").is_none());
        assert!(related_model("", "", "").is_none());
    }

    #[test]
    fn repeated_or_missing_parameters_count_as_absent() {
        let p = params("app_label=lettings&model_name=letting&field_name=address&term=a%26b");
        assert_eq!(
            (
                p.app_label.as_str(),
                p.model_name.as_str(),
                p.field_name.as_str(),
                p.term.as_str()
            ),
            ("lettings", "letting", "address", "a&b")
        );
        let p = params("app_label=lettings&app_label=auth&term");
        assert_eq!((p.app_label.as_str(), p.term.as_str()), ("", ""));
        assert_eq!(params("%zz=&&=").app_label, "");
    }
}
