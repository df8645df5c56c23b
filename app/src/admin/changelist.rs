//! A model's list page (Django's changelist): search, sort, pages, the filter sidebar
//! with its counts, and the bulk action "Delete selected …" through its confirmation.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use serde::Serialize;
use tera::Context;

use super::extract::{StaffForm, StaffUser};
use super::model::{lacking_permissions, AdminModel, Cascade, Facet, ListPage, ListQuery, ModelMeta, PER_PAGE};
use super::permissions::{Action, Permissions};
use super::render::{admin_page, redirect_with_message};
use super::views::{delete_recorded, meta_view, model_for, refusal, Deletion, Need, Page};
use crate::db::DbError;
use crate::errors::AppError;
use crate::forms::Form;
use crate::state::AppState;

/// The name of each row's checkbox, and of the action's select (Django's).
pub const SELECTED: &str = "_selected_action";
pub const DELETE_SELECTED: &str = "delete_selected";
/// At most this many rows in one action (Django refuses more than
/// `DATA_UPLOAD_MAX_NUMBER_FIELDS`, 1 000, fields in a form).
pub const MAX_SELECTED: usize = 1000;
const NOTHING_SELECTED: &str =
    "Items must be selected in order to perform actions on them. No items have been changed.";

/// `?q=…&p=…&o=…&<field>__exact=…` (search, 1-based page, sort column with `-` for
/// descending, the model's filters; anything else is ignored).
pub fn list_query(meta: &ModelMeta, query_string: &str) -> ListQuery {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string).unwrap_or_default();
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let sort = get("o");
    let (descending, column) = match sort.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, sort),
    };
    let filters = meta
        .filters
        .iter()
        .filter_map(|filter| {
            let key = format!("{}__exact", filter.field);
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                // A filter of fixed values takes only those (Django refuses the rest).
                .filter(|(_, value)| filter.choices.is_none_or(|c| c.iter().any(|(v, _)| v == value)))
                .map(|(_, value)| (filter.field, value.chars().take(200).collect()))
        })
        .collect();
    ListQuery {
        search: get("q").chars().take(200).collect(),
        facets: get("_facets") == "True",
        sqlite: false,
        scan: false,
        probe: None,
        page: get("p").parse::<i64>().unwrap_or(1).clamp(1, 1_000_000),
        sort: column.parse::<usize>().ok().map(|c| (c, descending)),
        filters,
    }
}

/// The list's URL for `query` (its search and filters) at `page`, sorted by `sort`.
pub fn list_url(meta: &ModelMeta, query: &ListQuery, page: i64, sort: Option<(usize, bool)>) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !query.search.is_empty() {
        pairs.push(("q".into(), query.search.clone()));
    }
    for (field, value) in &query.filters {
        pairs.push((format!("{field}__exact"), value.clone()));
    }
    if let Some((column, descending)) = sort {
        pairs.push(("o".into(), format!("{}{column}", if descending { "-" } else { "" })));
    }
    if page > 1 {
        pairs.push(("p".into(), page.to_string()));
    }
    if query.facets {
        pairs.push(("_facets".into(), "True".into()));
    }
    let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    if encoded.is_empty() {
        meta.url()
    } else {
        format!("{}?{encoded}", meta.url())
    }
}

#[derive(Serialize)]
struct ColumnView {
    label: &'static str,
    url: String,
    sorted: &'static str,
}

/// A link of the page row; no number is Django's "…".
#[derive(Serialize)]
struct PageLink {
    number: Option<i64>,
    url: String,
    current: bool,
}

/// The page numbers the list links to, as Django's admin shows them
/// (`Paginator.get_elided_page_range`, three on each side of the current page and two at
/// each end); `None` is an ellipsis. A list of a million rows links 13 pages, not 10 000.
pub fn elided_pages(current: i64, last: i64) -> Vec<Option<i64>> {
    const ON_EACH_SIDE: i64 = 3;
    const ON_ENDS: i64 = 2;
    if last <= (ON_EACH_SIDE + ON_ENDS) * 2 {
        return (1..=last).map(Some).collect();
    }
    let current = current.clamp(1, last);
    let mut pages = Vec::new();
    if current > 1 + ON_EACH_SIDE + ON_ENDS + 1 {
        pages.extend((1..=ON_ENDS).map(Some));
        pages.push(None);
        pages.extend((current - ON_EACH_SIDE..=current).map(Some));
    } else {
        pages.extend((1..=current).map(Some));
    }
    if current < last - ON_EACH_SIDE - ON_ENDS - 1 {
        pages.extend((current + 1..=current + ON_EACH_SIDE).map(Some));
        pages.push(None);
        pages.extend((last - ON_ENDS + 1..=last).map(Some));
    } else {
        pages.extend((current + 1..=last).map(Some));
    }
    pages
}

#[derive(Serialize)]
struct RowView {
    id: i32,
    /// The row's change page.
    url: String,
    cells: Vec<String>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ChoiceView {
    pub value: String,
    /// What the sidebar shows ("Yes" for `1`; the value itself for a column's values).
    pub label: String,
    /// None when counts are not shown.
    pub count: Option<i64>,
    pub url: String,
    pub selected: bool,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FilterView {
    pub field: &'static str,
    pub title: &'static str,
    /// The list without this filter.
    pub all_url: String,
    pub selected: bool,
    pub choices: Vec<ChoiceView>,
}

/// The sidebar: each filter's values with their counts, each a link to the list narrowed
/// to it (search and other filters kept, back to page 1). A picked value beyond a large
/// table's uncounted first values shows too, so that it can be seen and cleared; "All"
/// clears any.
pub fn filter_views(meta: &ModelMeta, query: &ListQuery, facets: &[Facet]) -> Vec<FilterView> {
    meta.filters
        .iter()
        .map(|filter| {
            let picked = query.filter(filter.field);
            let facet = facets.iter().find(|f| f.field == filter.field);
            let mut counts = facet.map(|f| f.counts.clone()).unwrap_or_default();
            let labels = facet.map(|f| f.labels.as_slice()).unwrap_or_default();
            // A picked value missing from the choices shows only where the choices may be
            // incomplete (a large table's first values, uncounted), so it can be seen and
            // cleared; where every value was counted, no row has it, and it is not echoed
            // back as a choice (issue 29, info: any text in the URL became a "choice").
            if let Some(picked) = picked {
                let counted = counts.iter().any(|(_, count)| count.is_some()) || counts.is_empty();
                if !counted && !counts.iter().any(|(value, _)| value == picked) {
                    counts.push((picked.to_owned(), None));
                    counts.sort();
                }
            }
            let without = query.without(filter.field);
            let choices = counts
                .into_iter()
                .map(|(value, count)| {
                    let mut narrowed = without.clone();
                    narrowed.filters.push((filter.field, value.clone()));
                    ChoiceView {
                        url: list_url(meta, &narrowed, 1, query.sort),
                        selected: picked == Some(value.as_str()),
                        label: filter
                            .choices
                            .and_then(|c| c.iter().find(|(v, _)| *v == value).map(|(_, l)| (*l).to_owned()))
                            .or_else(|| labels.iter().find(|(v, _)| *v == value).map(|(_, l)| l.clone()))
                            .unwrap_or_else(|| value.clone()),
                        value,
                        count,
                    }
                })
                .collect();
            FilterView {
                field: filter.field,
                title: filter.title,
                all_url: list_url(meta, &without, 1, query.sort),
                selected: picked.is_some(),
                choices,
            }
        })
        .collect()
}

/// A NUL matches nothing (and PostgreSQL refuses one in text): such a list is empty
/// without a query.
fn queryable(query: &ListQuery) -> bool {
    !query.search.contains('\0') && !query.filters.iter().any(|(_, v)| v.contains('\0'))
}

/// `GET /admin/{app}/{model}/`
pub async fn changelist(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffUser(staff): StaffUser,
    path: web::Path<(String, String)>,
) -> Page {
    let model = model_for(&staff, &path.0, &path.1, Need::View)?;
    let meta = model.meta();
    let query = list_query(meta, req.query_string());
    let (page, facets) = if queryable(&query) {
        let run_query = query.clone();
        state
            .db
            .run(move |conn| {
                let query = run_query.on(conn);
                Ok((model.list(conn, &query)?, model.facets(conn, &query)?))
            })
            .await?
    } else {
        (ListPage::default(), Vec::new())
    };

    let columns: Vec<ColumnView> = meta
        .columns
        .iter()
        .enumerate()
        .map(|(index, label)| {
            let (sorted, next) = match query.sort {
                Some((c, false)) if c == index => ("asc", (index, true)),
                Some((c, true)) if c == index => ("desc", (index, false)),
                _ => ("", (index, false)),
            };
            ColumnView {
                label,
                url: list_url(meta, &query, 1, Some(next)),
                sorted,
            }
        })
        .collect();
    let mut last_page = ((page.total + PER_PAGE - 1) / PER_PAGE).max(1);
    if page.more && page.rows.len() as i64 == PER_PAGE {
        // A common search is not counted past SEARCH_COUNT: its pages go on past the
        // links, a full page leading to the next.
        last_page = last_page.max(query.page + 1);
    }
    if page.rows.is_empty() && page.total > 0 && query.page > last_page {
        // A page past the end (an old link, a deletion since): the last page, said so,
        // rather than "No addresses yet." beside "156 addresses".
        let last = list_url(meta, &query, last_page, query.sort);
        let message = format!(
            "There is no page {} of {} {}: here is the last one.",
            query.page, page.total, meta.plural
        );
        return Ok(redirect_with_message(&req, &last, &message));
    }
    let pages: Vec<PageLink> = if last_page > 1 {
        elided_pages(query.page, last_page)
            .into_iter()
            .map(|number| PageLink {
                number,
                url: number.map_or_else(String::new, |n| list_url(meta, &query, n, query.sort)),
                current: number == Some(query.page),
            })
            .collect()
    } else {
        Vec::new()
    };
    let rows: Vec<RowView> = page
        .rows
        .into_iter()
        .map(|r| RowView {
            id: r.id,
            url: super::urls::change(meta, r.id),
            cells: r.cells,
        })
        .collect();

    let mut context = Context::new();
    context.insert("meta", &meta_view(meta));
    context.insert("columns", &columns);
    context.insert("rows", &rows);
    context.insert("total", &page.total);
    context.insert("more", &page.more);
    context.insert("pages", &pages);
    context.insert("search", &query.search);
    context.insert("filters", &filter_views(meta, &query, &facets));
    context.insert("filtered", &!query.filters.is_empty());
    let counted = facets.iter().any(|f| f.counts.iter().any(|(_, count)| count.is_some()));
    let toggled = ListQuery {
        facets: !query.facets,
        ..query.clone()
    };
    // Django 5's "Show counts" / "Hide counts", where counts are not shown by default.
    if !counted || query.facets {
        context.insert(
            "facets_toggle",
            &(
                if query.facets { "Hide counts" } else { "Show counts" },
                list_url(meta, &toggled, query.page, query.sort),
            ),
        );
    }
    context.insert("clear_url", &meta.url());
    context.insert("here", &list_url(meta, &query, query.page, query.sort));
    context.insert("may_add", &staff.permissions.may(meta, Action::Add));
    context.insert("may_change", &staff.permissions.may(meta, Action::Change));
    context.insert("may_delete", &staff.permissions.may(meta, Action::Delete));
    admin_page(&req, Some(&staff), "admin/change_list.html", context, StatusCode::OK)
}

/// The rows an action was asked for: each id once, in the order sent; anything that is
/// not an id is no row. More than [`MAX_SELECTED`] is a 400.
pub fn selected_ids(form: &Form) -> Result<Vec<i32>, AppError> {
    let values = form.get_all(SELECTED);
    if values.len() > MAX_SELECTED {
        return Err(AppError::BadRequest(format!(
            "at most {MAX_SELECTED} rows can be acted on at once"
        )));
    }
    let mut seen = BTreeSet::new();
    Ok(values
        .iter()
        .filter_map(|v| crate::ids::parse_id(v.trim()))
        .filter(|id| seen.insert(*id))
        .collect())
}

/// One object of a bulk delete, and what goes with it.
#[derive(Debug, Serialize)]
struct DoomedView {
    id: i32,
    /// Its change page.
    url: String,
    title: String,
    cascades: Vec<Cascade>,
    /// What its deletion leaves in the history.
    kept: Vec<String>,
}

/// `POST /admin/{app}/{model}/`: a bulk action on the checked rows. "Delete selected …"
/// shows what would go first; its confirmation (`post=yes`) deletes them all in one
/// transaction, each with its history entry.
pub async fn action(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffForm { staff, form }: StaffForm,
    path: web::Path<(String, String)>,
) -> Page {
    let model = model_for(&staff, &path.0, &path.1, Need::View)?;
    let meta = model.meta();
    // Back to the list as it was (its search, filters, sort and page).
    let back = format!("{}{}", meta.url(), query_of(&req));
    if form.get("action") != DELETE_SELECTED {
        return Ok(redirect_with_message(&req, &back, "No action selected."));
    }
    let model = model_for(&staff, &path.0, &path.1, Need::To(Action::Delete))?;
    let ids = selected_ids(&form)?;
    if form.get("post") == "yes" {
        let actor = staff.user_id;
        let permissions = staff.permissions.clone();
        let deleted = match state
            .write(move |conn| delete_many(conn, model, actor, &permissions, &ids))
            .await?
        {
            Deletion::Deleted(deleted) => deleted,
            Deletion::Missing => 0,
            Deletion::Refused(lacking) => return Err(AppError::Forbidden(refusal(&lacking))),
        };
        if deleted == 0 {
            return Ok(redirect_with_message(&req, &back, NOTHING_SELECTED));
        }
        let noun = if deleted == 1 { meta.verbose } else { meta.plural };
        return Ok(redirect_with_message(
            &req,
            &back,
            &format!("Successfully deleted {deleted} {noun}."),
        ));
    }
    let doomed = state
        .db
        .run(move |conn| {
            let mut doomed = Vec::new();
            for id in ids {
                if let Some(title) = model.describe(conn, id)? {
                    doomed.push(DoomedView {
                        id,
                        url: super::urls::change(model.meta(), id),
                        title,
                        cascades: model.cascades(conn, id)?,
                        kept: super::history::kept_on_delete(conn, &model.meta().content_type(), id)?,
                    });
                }
            }
            Ok(doomed)
        })
        .await?;
    if doomed.is_empty() {
        return Ok(redirect_with_message(&req, &back, NOTHING_SELECTED));
    }
    confirmation(&req, &staff, model, &doomed, &back)
}

fn confirmation(
    req: &HttpRequest,
    staff: &super::session::StaffSession,
    model: &'static dyn AdminModel,
    doomed: &[DoomedView],
    back: &str,
) -> Page {
    let mut context = Context::new();
    context.insert("meta", &meta_view(model.meta()));
    context.insert("objects", doomed);
    let cascades: Vec<_> = doomed.iter().flat_map(|d| d.cascades.iter().cloned()).collect();
    context.insert("lacking", &lacking_permissions(&staff.permissions, &cascades));
    context.insert("action_url", &format!("{}{}", model.meta().url(), query_of(req)));
    context.insert("back", back);
    context.insert("crumb", "Delete multiple objects");
    admin_page(
        req,
        Some(staff),
        "admin/delete_selected_confirmation.html",
        context,
        StatusCode::OK,
    )
}

fn query_of(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => String::new(),
        query => format!("?{query}"),
    }
}

/// Deletes the rows of `ids` that still exist, each with its history entry, in one
/// transaction (all or none); how many went.
pub fn delete_many(
    conn: &mut crate::db::DbConnection,
    model: &dyn AdminModel,
    actor: i32,
    permissions: &Permissions,
    ids: &[i32],
) -> Result<Deletion<usize>, DbError> {
    use diesel::Connection;
    conn.transaction::<_, DbError, _>(|conn| {
        // Every row's cascades first: one forbidden row refuses the whole action, as
        // Django's `delete_selected` does.
        let mut cascades = Vec::new();
        for &id in ids {
            cascades.extend(model.cascades(conn, id)?);
        }
        let lacking = lacking_permissions(permissions, &cascades);
        if !lacking.is_empty() {
            return Ok(Deletion::Refused(lacking));
        }
        let mut deleted = 0;
        for &id in ids {
            if delete_recorded(conn, model, actor, id)?.is_some() {
                deleted += 1;
            }
        }
        Ok(Deletion::Deleted(deleted))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::model::find;

    fn addresses() -> &'static ModelMeta {
        find("lettings", "address").map(|m| m.meta()).expect("registered")
    }

    #[test]
    fn list_queries_keep_the_models_filters_and_drop_anything_else() {
        let query = list_query(
            addresses(),
            "q=a&state__exact=CA&city__exact=X&country_iso_code__exact=USA&o=-2&p=3",
        );
        assert_eq!(
            query.filters,
            vec![("state", "CA".to_owned()), ("country_iso_code", "USA".to_owned())]
        );
        assert_eq!(query.sort, Some((2, true)));
        assert_eq!(
            list_url(addresses(), &query, 2, query.sort),
            "/admin/lettings/address/?q=a&state__exact=CA&country_iso_code__exact=USA&o=-2&p=2"
        );
        assert_eq!(query.without("state").filter("state"), None);
        assert_eq!(query.without("state").filter("country_iso_code"), Some("USA"));
    }

    #[test]
    fn the_sidebar_links_each_value_with_its_count_and_echoes_no_value_no_row_has() {
        let query = list_query(addresses(), "state__exact=NY&q=x");
        let facets = vec![crate::admin::model::facet(
            "state",
            vec![("GA".into(), 1), ("CA".into(), 3)],
        )];
        let views = filter_views(addresses(), &query, &facets);
        assert_eq!(views.len(), 2);
        let states = &views[0];
        assert!(states.selected);
        assert_eq!(states.all_url, "/admin/lettings/address/?q=x");
        let values: Vec<(&str, Option<i64>, bool)> = states
            .choices
            .iter()
            .map(|c| (c.value.as_str(), c.count, c.selected))
            .collect();
        assert_eq!(
            values,
            [("CA", Some(3), false), ("GA", Some(1), false)],
            "NY, which no row has, is not echoed"
        );
        // Uncounted (a large table's first values): a picked value may be beyond them, and shows.
        let uncounted = vec![crate::admin::model::uncounted("state", vec!["CA".into(), "GA".into()])];
        let views = filter_views(addresses(), &query, &uncounted);
        let values: Vec<(&str, bool)> = views[0]
            .choices
            .iter()
            .map(|c| (c.value.as_str(), c.selected))
            .collect();
        assert_eq!(values, [("CA", false), ("GA", false), ("NY", true)]);
        assert_eq!(states.choices[0].url, "/admin/lettings/address/?q=x&state__exact=CA");
        assert!(!views[1].selected);
        assert!(views[1].choices.is_empty());
    }

    #[test]
    fn page_links_are_elided_as_djangos() {
        let shown = |current, last| -> String {
            elided_pages(current, last)
                .into_iter()
                .map(|p| p.map_or("…".to_owned(), |n| n.to_string()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(shown(1, 1), "1");
        assert_eq!(shown(4, 10), "1 2 3 4 5 6 7 8 9 10");
        assert_eq!(shown(1, 10_000), "1 2 3 4 … 9999 10000");
        assert_eq!(shown(500, 10_000), "1 2 … 497 498 499 500 501 502 503 … 9999 10000");
        assert_eq!(shown(10_000, 10_000), "1 2 … 9997 9998 9999 10000");
        assert_eq!(shown(7, 20), "1 2 3 4 5 6 7 8 9 10 … 19 20");
        assert_eq!(shown(99, 20), "1 2 … 17 18 19 20", "past the end: as the last page");
    }

    #[test]
    fn selected_rows_are_ids_each_once_and_bounded() {
        let form = Form::from_pairs(
            ["3", "x", "3", " 7 ", "-1", "0"]
                .into_iter()
                .map(|v| (SELECTED.to_owned(), v.to_owned())),
        );
        assert_eq!(selected_ids(&form).expect("few"), vec![3, 7]);
        let many = Form::from_pairs((0..=MAX_SELECTED).map(|i| (SELECTED.to_owned(), i.to_string())));
        assert!(selected_ids(&many).is_err());
    }
}
