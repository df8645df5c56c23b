//! The admin's history, as Django's `LogEntry` (`django_admin_log`): every add, change and
//! delete with who, when, which object (its repr, kept after a deletion) and Django's JSON
//! change message (`[{"changed": {"fields": ["First name", "Email address"]}}]`), shown as
//! "Changed First name and Email address.". "Recent actions" on the admin index, and a
//! History page per object.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use crate::db::schema::{auth_user as user, django_admin_log as log};
use crate::db::{DbConnection, DbError};

/// Django's `ADDITION`, `CHANGE`, `DELETION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Addition = 1,
    Change = 2,
    Deletion = 3,
}

impl Action {
    pub fn from_flag(flag: i16) -> Option<Action> {
        match flag {
            1 => Some(Action::Addition),
            2 => Some(Action::Change),
            3 => Some(Action::Deletion),
            _ => None,
        }
    }

    fn css(self) -> &'static str {
        match self {
            Action::Addition => "addlink",
            Action::Change => "changelink",
            Action::Deletion => "deletelink",
        }
    }
}

/// Django's JSON change message of an addition.
pub fn added_message() -> String {
    json!([{ "added": {} }]).to_string()
}

/// Django's JSON change message of a change of `fields` (their labels); `[]` when none.
pub fn changed_message(fields: &[&str]) -> String {
    if fields.is_empty() {
        return "[]".to_owned();
    }
    json!([{ "changed": { "fields": fields } }]).to_string()
}

/// Django's `get_text_list`: "a", "a and b", "a, b and c".
fn text_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A change message as Django's `LogEntry.get_change_message` reads it; text that is not
/// Django's JSON is shown as it is (old Django versions stored plain sentences).
pub fn render_message(message: &str, action: Option<Action>) -> String {
    let Ok(Value::Array(parts)) = serde_json::from_str::<Value>(message) else {
        return match (message.is_empty(), action) {
            (false, _) => message.to_owned(),
            (true, Some(Action::Addition)) => "Added.".to_owned(),
            (true, Some(Action::Deletion)) => "Deleted.".to_owned(),
            _ => "No fields changed.".to_owned(),
        };
    };
    let mut sentences = Vec::new();
    for part in &parts {
        if let Some(added) = part.get("added") {
            sentences.push(match (added.get("name"), added.get("object")) {
                (Some(name), Some(object)) => format!(
                    "Added {} “{}”.",
                    name.as_str().unwrap_or_default(),
                    object.as_str().unwrap_or_default()
                ),
                _ => "Added.".to_owned(),
            });
        } else if let Some(changed) = part.get("changed") {
            let fields: Vec<String> = changed
                .get("fields")
                .and_then(Value::as_array)
                .map(|f| f.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            sentences.push(format!("Changed {}.", text_list(&fields)));
        } else if let Some(deleted) = part.get("deleted") {
            sentences.push(format!(
                "Deleted {} “{}”.",
                deleted.get("name").and_then(Value::as_str).unwrap_or_default(),
                deleted.get("object").and_then(Value::as_str).unwrap_or_default()
            ));
        }
    }
    if sentences.is_empty() {
        return match action {
            Some(Action::Deletion) => "Deleted.".to_owned(),
            _ => "No fields changed.".to_owned(),
        };
    }
    sentences.join(" ")
}

#[derive(Insertable)]
#[diesel(table_name = log)]
struct NewEntry<'a> {
    action_time: NaiveDateTime,
    user_id: i32,
    /// The author's username now, kept with the entry: it outlives the user.
    username: &'a str,
    content_type: &'a str,
    object_id: Option<&'a str>,
    object_repr: &'a str,
    action_flag: i16,
    change_message: &'a str,
}

/// Records one admin action (`content_type` is `app.model`, as the admin's URLs).
pub fn record(
    conn: &mut DbConnection,
    user_id: i32,
    content_type: &str,
    object_id: i32,
    repr: &str,
    action: Action,
    message: &str,
) -> Result<(), DbError> {
    let id = object_id.to_string();
    let repr: String = repr.chars().take(200).collect();
    let username: String = user::table.find(user_id).select(user::username).first(conn)?;
    diesel::insert_into(log::table)
        .values(NewEntry {
            action_time: crate::clock::now(),
            user_id,
            username: &username,
            content_type,
            object_id: Some(&id),
            object_repr: &repr,
            action_flag: action as i16,
            change_message: message,
        })
        .execute(conn)?;
    Ok(())
}

/// One entry as the pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The entry's own id (the audit log pages by it).
    pub id: i32,
    pub time: String,
    /// The author's username: their current one, or the one they had when the entry was
    /// made if the user has since been deleted.
    pub username: String,
    /// Whether the author has been deleted since (their entries stay).
    pub author_deleted: bool,
    pub content_type: String,
    pub object_id: Option<String>,
    pub repr: String,
    pub css: &'static str,
    pub message: String,
    /// What was done (`None` for a flag Django does not have).
    #[serde(skip)]
    pub action: Option<Action>,
    /// Whether the entry may link to its object (an addition or a change; the caller
    /// checks that the object still exists and that the user may see it).
    pub linkable: bool,
}

impl Entry {
    /// The admin model and object id the entry is about (`lettings.letting`, `1`).
    pub fn object(&self) -> Option<(&str, &str, i32)> {
        let (app, model) = self.content_type.split_once('.')?;
        let id = crate::ids::parse_id(self.object_id.as_deref()?)?;
        Some((app, model, id))
    }
}

/// A time as Django's admin shows it (`DATETIME_FORMAT = "N j, Y, P"`, English): the
/// month in AP style ("Jan.", "March", "Sept."), the day, the year, and the time as
/// "9:45 a.m.", "9 a.m.", "noon" or "midnight".
pub fn django_datetime(time: NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    const MONTHS: [&str; 12] = [
        "Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.", "Dec.",
    ];
    let month = MONTHS[time.month0() as usize];
    let (hour, minute) = (time.hour(), time.minute());
    let clock = match (hour, minute) {
        (0, 0) => "midnight".to_owned(),
        (12, 0) => "noon".to_owned(),
        _ => {
            let twelve = match hour % 12 {
                0 => 12,
                h => h,
            };
            let half = if hour < 12 { "a.m." } else { "p.m." };
            if minute == 0 {
                format!("{twelve} {half}")
            } else {
                format!("{twelve}:{minute:02} {half}")
            }
        }
    };
    format!("{month} {}, {}, {clock}", time.day(), time.year())
}

type Row = (
    i32,
    NaiveDateTime,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    i16,
    String,
);

fn entry((id, time, author, kept_name, content_type, object_id, repr, flag, message): Row) -> Entry {
    let action = Action::from_flag(flag);
    Entry {
        id,
        action,
        time: django_datetime(time),
        author_deleted: author.is_none(),
        username: author.unwrap_or(kept_name),
        content_type,
        object_id,
        repr,
        css: action.map_or("changelink", Action::css),
        message: render_message(&message, action),
        linkable: matches!(action, Some(Action::Addition | Action::Change)),
    }
}

#[allow(clippy::type_complexity)]
fn columns() -> (
    log::id,
    log::action_time,
    diesel::dsl::Nullable<user::username>,
    log::username,
    log::content_type,
    log::object_id,
    log::object_repr,
    log::action_flag,
    log::change_message,
) {
    (
        log::id,
        log::action_time,
        user::username.nullable(),
        log::username,
        log::content_type,
        log::object_id,
        log::object_repr,
        log::action_flag,
        log::change_message,
    )
}

/// What deleting object `id` of `content_type` (`app.model`) leaves in the history, as
/// the delete confirmation lists it: the object's own entries, and for a user the entries
/// they wrote (kept under the username they have now).
pub fn kept_on_delete(conn: &mut DbConnection, content_type: &str, id: i32) -> Result<Vec<String>, DbError> {
    let plural = |n: i64| if n == 1 { "entry" } else { "entries" };
    let mut kept = Vec::new();
    let own: i64 = log::table
        .filter(log::content_type.eq(content_type))
        .filter(log::object_id.eq(id.to_string()))
        .count()
        .get_result(conn)?;
    if own > 0 {
        kept.push(format!("Its history: {own} {}", plural(own)));
    }
    if content_type == "auth.user" {
        let written: i64 = log::table.filter(log::user_id.eq(id)).count().get_result(conn)?;
        if written > 0 {
            let username: String = user::table.find(id).select(user::username).first(conn)?;
            kept.push(format!(
                "The {written} history {} written by this user, under the name “{username}”",
                plural(written)
            ));
        }
    }
    Ok(kept)
}

/// What the audit log narrows its entries to (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The author's username (as kept with each entry: a deleted user's too).
    pub username: Option<String>,
    /// The model, `app.model`.
    pub content_type: Option<String>,
    pub action: Option<Action>,
    /// Entries at or after this time.
    pub since: Option<NaiveDateTime>,
    /// Entries before this time.
    pub until: Option<NaiveDateTime>,
    /// Text the object's name holds (any case), or the object's id.
    pub search: Option<String>,
}

/// Where a page of the audit log starts: the newest entries, the entries older than an
/// id ("Older"), or newer than one ("Newer").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Newest,
    Before(i32),
    After(i32),
}

/// `(action_time, id)` compared with an entry's (`<` or `>`), as SQL row values: what the
/// time index answers as a range.
macro_rules! time_and_id {
    ($op:literal, $at:expr, $id:expr) => {
        diesel::dsl::sql::<diesel::sql_types::Bool>(concat!(
            "(django_admin_log.action_time, django_admin_log.id) ",
            $op,
            " ("
        ))
        .bind::<diesel::sql_types::Timestamp, _>($at)
        .sql(", ")
        .bind::<diesel::sql_types::Integer, _>($id)
        .sql(")")
    };
}

/// A page of the audit log, newest first, at most `limit` entries, by keyset (the id:
/// no OFFSET, so the millionth page costs what the first does), and whether there are
/// more beyond it in the direction read.
pub fn audit(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    cursor: Cursor,
    limit: i64,
) -> Result<(Vec<Entry>, bool), DbError> {
    let sqlite = matches!(conn, DbConnection::Sqlite(_));
    let mut query = log::table.left_join(user::table).select(columns()).into_boxed();
    if let Some(username) = &filter.username {
        query = query.filter(log::username.eq(username.clone()));
    }
    if let Some(content_type) = &filter.content_type {
        query = query.filter(log::content_type.eq(content_type.clone()));
    }
    if let Some(action) = filter.action {
        query = query.filter(log::action_flag.eq(action as i16));
    }
    if let Some(since) = filter.since {
        query = query.filter(log::action_time.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(log::action_time.lt(until));
    }
    if let Some(search) = &filter.search {
        let term = search.trim().to_lowercase();
        let named = if sqlite {
            Box::new(super::model::instr(super::model::lower(log::object_repr), term).gt(0))
                as Box<dyn BoxableExpression<_, crate::db::connection::MultiBackend, SqlType = diesel::sql_types::Bool>>
        } else {
            Box::new(super::model::strpos(super::model::lower(log::object_repr), term).gt(0))
        };
        query = query.filter(named.or(log::object_id.eq(search.trim().to_owned())));
    }
    // Narrowed to dates, the page is read through the time index (`action_time, id`),
    // newest first by time then id, each cursor placed by its entry's time: sorting a busy
    // day's entries by id alone read every one of them (107 ms for 54 000 on PostgreSQL).
    if filter.since.is_some() || filter.until.is_some() {
        let time_of = |conn: &mut DbConnection, id: i32| -> Result<Option<NaiveDateTime>, DbError> {
            crate::db::first(log::table.find(id).select(log::action_time), conn)
        };
        let newest_first = (log::action_time.desc(), log::id.desc());
        let rows: Vec<Row> = match cursor {
            Cursor::Newest => query.order(newest_first).limit(limit + 1).load(conn)?,
            Cursor::Before(id) => match time_of(conn, id)? {
                Some(at) => query
                    .filter(time_and_id!("<", at, id))
                    .order(newest_first)
                    .limit(limit + 1)
                    .load(conn)?,
                None => Vec::new(),
            },
            Cursor::After(id) => {
                let Some(at) = time_of(conn, id)? else {
                    return Ok((Vec::new(), false));
                };
                let rows: Vec<Row> = query
                    .filter(time_and_id!(">", at, id))
                    .order((log::action_time.asc(), log::id.asc()))
                    .limit(limit + 1)
                    .load(conn)?;
                return Ok(page(rows, limit, true));
            }
        };
        return Ok(page(rows, limit, false));
    }
    let rows: Vec<Row> = match cursor {
        Cursor::Newest => query.order(log::id.desc()).limit(limit + 1).load(conn)?,
        Cursor::Before(id) => query
            .filter(log::id.lt(id))
            .order(log::id.desc())
            .limit(limit + 1)
            .load(conn)?,
        Cursor::After(id) => {
            let rows: Vec<Row> = query
                .filter(log::id.gt(id))
                .order(log::id.asc())
                .limit(limit + 1)
                .load(conn)?;
            return Ok(page(rows, limit, true));
        }
    };
    Ok(page(rows, limit, false))
}

/// A page of at most `limit` entries from rows read with one more (whether there are more
/// in the direction read), newest first: `read_oldest_first` rows (a "Newer" page) are
/// turned round.
fn page(mut rows: Vec<Row>, limit: i64, read_oldest_first: bool) -> (Vec<Entry>, bool) {
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    if read_oldest_first {
        rows.reverse();
    }
    (rows.into_iter().map(entry).collect(), more)
}

/// "Recent actions": the user's own last ten, newest first.
pub fn recent(conn: &mut DbConnection, user_id: i32) -> Result<Vec<Entry>, DbError> {
    let rows: Vec<Row> = log::table
        .left_join(user::table)
        .filter(log::user_id.eq(user_id))
        .order((log::action_time.desc(), log::id.desc()))
        .limit(10)
        .select(columns())
        .load(conn)?;
    Ok(rows.into_iter().map(entry).collect())
}

/// One object's history, oldest first (Django's History page).
pub fn of_object(conn: &mut DbConnection, content_type: &str, object_id: i32) -> Result<Vec<Entry>, DbError> {
    let rows: Vec<Row> = log::table
        .left_join(user::table)
        .filter(log::content_type.eq(content_type))
        .filter(log::object_id.eq(object_id.to_string()))
        .order((log::action_time.asc(), log::id.asc()))
        .select(columns())
        .load(conn)?;
    Ok(rows.into_iter().map(entry).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_djangos() {
        let at = |m, d, h, min| {
            chrono::NaiveDate::from_ymd_opt(2020, m, d)
                .and_then(|day| day.and_hms_opt(h, min, 7))
                .expect("a valid time")
        };
        assert_eq!(django_datetime(at(6, 14, 9, 45)), "June 14, 2020, 9:45 a.m.");
        assert_eq!(django_datetime(at(9, 1, 15, 5)), "Sept. 1, 2020, 3:05 p.m.");
        assert_eq!(django_datetime(at(1, 2, 12, 0)), "Jan. 2, 2020, noon");
        assert_eq!(django_datetime(at(3, 3, 0, 0)), "March 3, 2020, midnight");
        assert_eq!(django_datetime(at(12, 31, 0, 30)), "Dec. 31, 2020, 12:30 a.m.");
        assert_eq!(django_datetime(at(5, 9, 17, 0)), "May 9, 2020, 5 p.m.");
    }

    #[test]
    fn messages_read_as_djangos() {
        assert_eq!(render_message(&added_message(), Some(Action::Addition)), "Added.");
        assert_eq!(
            render_message(
                &changed_message(&["First name", "Last name", "Email address"]),
                Some(Action::Change)
            ),
            "Changed First name, Last name and Email address."
        );
        assert_eq!(
            render_message(&changed_message(&["Title"]), Some(Action::Change)),
            "Changed Title."
        );
        assert_eq!(render_message("[]", Some(Action::Change)), "No fields changed.");
        assert_eq!(render_message("", Some(Action::Deletion)), "Deleted.");
        assert_eq!(
            render_message("Changed password.", Some(Action::Change)),
            "Changed password."
        );
        assert_eq!(
            changed_message(&["First name", "Email address"]),
            r#"[{"changed":{"fields":["First name","Email address"]}}]"#
        );
    }
}
