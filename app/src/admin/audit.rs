//! The audit log (`/admin/audit/`, superusers only): every history entry of every user,
//! newest first, narrowed by author, model, action and dates, searched by the object's
//! name or id, and paged by keyset ("Older" / "Newer", by entry id), so it reads the
//! same at a million entries as at six. Each entry links to its object while it exists,
//! and to the object's history (which outlives it) always.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize};
use tera::Context;

use super::extract::StaffUser;
use super::history::{self, Action, AuditFilter, Cursor};
use super::model::{find, registry};
use super::render::admin_page;
use super::urls;
use crate::errors::AppError;
use crate::state::AppState;

/// Entries per page.
pub const PAGE: i64 = 100;

/// The query string as typed (every value text, so a bad one is a message, not a 400).
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub before: String,
    #[serde(default)]
    pub after: String,
}

/// What the query string asks for, and what in it could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct Reading {
    pub filter: AuditFilter,
    pub cursor: Cursor,
    pub problems: Vec<String>,
}

fn action_named(name: &str) -> Option<Action> {
    match name {
        "add" => Some(Action::Addition),
        "change" => Some(Action::Change),
        "delete" => Some(Action::Deletion),
        _ => None,
    }
}

fn date(value: &str, what: &str, problems: &mut Vec<String>) -> Option<NaiveDate> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(day) => Some(day),
        Err(_) => {
            problems.push(format!("{what}: enter a valid date (YYYY-MM-DD); it was left out."));
            None
        }
    }
}

fn midnight(day: NaiveDate) -> NaiveDateTime {
    day.and_time(chrono::NaiveTime::MIN)
}

/// Reads the query string: unknown models and actions, bad dates and ids are left out
/// and said so; a NUL anywhere matches nothing (PostgreSQL refuses one in text).
pub fn read(params: &Params) -> Reading {
    let mut problems = Vec::new();
    let text = |value: &str| {
        let value = value.trim();
        (!value.is_empty()).then(|| value.chars().take(200).collect::<String>())
    };
    let content_type = text(&params.model).and_then(|model| {
        let known = model.split_once('.').and_then(|(app, name)| find(app, name)).is_some();
        if known {
            Some(model)
        } else {
            problems.push("Model: not one of the choices; it was left out.".to_owned());
            None
        }
    });
    let action = text(&params.action).and_then(|name| {
        let action = action_named(&name);
        if action.is_none() {
            problems.push("Action: not one of the choices; it was left out.".to_owned());
        }
        action
    });
    let since = date(&params.since, "From", &mut problems).map(midnight);
    // "Until" a day includes that day.
    let until = date(&params.until, "Until", &mut problems).map(|day| midnight(day) + TimeDelta::days(1));
    let id = |value: &str| crate::ids::parse_id(value.trim());
    let cursor = match (id(&params.before), id(&params.after)) {
        (Some(before), _) => Cursor::Before(before),
        (None, Some(after)) => Cursor::After(after),
        (None, None) => Cursor::Newest,
    };
    Reading {
        filter: AuditFilter {
            username: text(&params.user),
            content_type,
            action,
            since,
            until,
            search: text(&params.q),
        },
        cursor,
        problems,
    }
}

/// One line of the log as the page shows it.
#[derive(Debug, Serialize)]
struct Line {
    #[serde(flatten)]
    entry: history::Entry,
    action: &'static str,
    model: String,
    /// The object's change page, while it exists.
    link: Option<String>,
    /// The object's history page (kept after a deletion).
    history: Option<String>,
}

/// A choice of a filter's select.
#[derive(Debug, Serialize)]
struct Choice {
    value: String,
    label: String,
}

/// This page's URL with the same filters, from `cursor` (`("before", id)`), or from the
/// newest entries without one.
fn page_url(params: &Params, cursor: Option<(&str, i32)>) -> String {
    let mut pairs: Vec<(&str, &str)> = [
        ("user", params.user.as_str()),
        ("model", params.model.as_str()),
        ("action", params.action.as_str()),
        ("since", params.since.as_str()),
        ("until", params.until.as_str()),
        ("q", params.q.as_str()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.trim().is_empty())
    .collect();
    let id = cursor.map(|(_, id)| id.to_string()).unwrap_or_default();
    if let Some((name, _)) = cursor {
        pairs.push((name, &id));
    }
    match serde_urlencoded::to_string(&pairs).unwrap_or_default() {
        query if query.is_empty() => urls::AUDIT.to_owned(),
        query => format!("{}?{query}", urls::AUDIT),
    }
}

/// `GET /admin/audit/`
pub async fn audit_log(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffUser(staff): StaffUser,
) -> Result<actix_web::HttpResponse, AppError> {
    if !staff.is_superuser {
        return Err(AppError::Forbidden("Only superusers may read the audit log.".into()));
    }
    let params: Params = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let reading = read(&params);
    let nul = [&params.user, &params.q].iter().any(|v| v.contains('\0'));
    let (filter, cursor) = (reading.filter.clone(), reading.cursor);
    let (lines, more) = if nul {
        (Vec::new(), false)
    } else {
        state
            .db
            .run(move |conn| {
                let (entries, more) = history::audit(conn, &filter, cursor, PAGE)?;
                let mut lines = Vec::with_capacity(entries.len());
                for entry in entries {
                    let model = entry
                        .object()
                        .and_then(|(app, name, id)| find(app, name).map(|m| (m, id)));
                    let (link, history, model_name) = match model {
                        Some((model, id)) => (
                            model.describe(conn, id)?.map(|_| urls::change(model.meta(), id)),
                            Some(urls::history(model.meta(), id)),
                            model.meta().verbose.to_owned(),
                        ),
                        None => (None, None, entry.content_type.clone()),
                    };
                    let action = match entry.action {
                        Some(Action::Addition) => "Added",
                        Some(Action::Deletion) => "Deleted",
                        _ => "Changed",
                    };
                    lines.push(Line {
                        entry,
                        action,
                        model: model_name,
                        link,
                        history,
                    });
                }
                Ok((lines, more))
            })
            .await?
    };
    // Older and newer pages: by the ids at either end of this one.
    let (first, last) = (lines.first().map(|l| l.entry.id), lines.last().map(|l| l.entry.id));
    let (older, newer) = match reading.cursor {
        Cursor::Newest => (more.then_some(last).flatten(), None),
        Cursor::Before(_) => (more.then_some(last).flatten(), first),
        Cursor::After(_) => (last, more.then_some(first).flatten()),
    };
    let mut context = Context::new();
    context.insert("crumb", "Audit log");
    context.insert("lines", &lines);
    context.insert("problems", &reading.problems);
    context.insert("older_url", &older.map(|id| page_url(&params, Some(("before", id)))));
    context.insert("newer_url", &newer.map(|id| page_url(&params, Some(("after", id)))));
    context.insert(
        "newest_url",
        &(reading.cursor != Cursor::Newest).then(|| page_url(&params, None)),
    );
    context.insert("user_value", params.user.trim());
    context.insert("q_value", params.q.trim());
    context.insert("since_value", params.since.trim());
    context.insert("until_value", params.until.trim());
    let models: Vec<Choice> = registry()
        .iter()
        .map(|m| Choice {
            value: m.meta().content_type(),
            label: format!("{} | {}", m.meta().app_label, m.meta().verbose),
        })
        .collect();
    context.insert("models", &models);
    context.insert("model_value", &reading.filter.content_type.unwrap_or_default());
    context.insert(
        "action_value",
        match reading.filter.action {
            Some(Action::Addition) => "add",
            Some(Action::Change) => "change",
            Some(Action::Deletion) => "delete",
            None => "",
        },
    );
    admin_page(&req, Some(&staff), "admin/audit_log.html", context, StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        serde_urlencoded::from_str(query).unwrap()
    }

    #[test]
    fn the_query_string_is_read_and_what_cannot_be_is_said() {
        let reading = read(&params(
            "user=ed&model=lettings.letting&action=delete&since=2026-12-01&until=2026-12-02&q=Loft&before=40",
        ));
        let day = |d| {
            NaiveDate::from_ymd_opt(2026, 12, d)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
        };
        assert_eq!(
            reading.filter,
            AuditFilter {
                username: Some("ed".into()),
                content_type: Some("lettings.letting".into()),
                action: Some(Action::Deletion),
                since: Some(day(1)),
                until: Some(day(3)),
                search: Some("Loft".into()),
            }
        );
        assert_eq!(reading.cursor, Cursor::Before(40));
        assert!(reading.problems.is_empty());

        let reading = read(&params(
            "model=auth.permission&action=drop&since=yesterday&before=-1&after=x",
        ));
        assert_eq!(reading.filter, AuditFilter::default());
        assert_eq!(reading.cursor, Cursor::Newest);
        assert_eq!(reading.problems.len(), 3, "{:?}", reading.problems);
    }

    #[test]
    fn page_links_keep_the_filters() {
        let p = params("user=ed&q=a%26b&before=9");
        assert_eq!(
            page_url(&p, Some(("before", 7))),
            "/admin/audit/?user=ed&q=a%26b&before=7"
        );
        assert_eq!(page_url(&p, None), "/admin/audit/?user=ed&q=a%26b");
        assert_eq!(page_url(&Params::default(), None), "/admin/audit/");
    }
}
