//! `oc-lettings import-django PATH`: copies a Django site's users (with their password
//! hashes), addresses, lettings and profiles into our database, keeping their ids.
//! Reads both layouts of the original (`oc_lettings_site_*`, and the refactored
//! `lettings_*` / `profiles_*`). One transaction: on any error nothing is written.
//! Idempotent: rows are upserted by id, so a second run changes nothing.
//!
//! It streams: each table is read [`BATCH`] rows at a time (by id, from the read-only
//! source) and written as one multi-row `INSERT … ON CONFLICT (id) DO UPDATE`, so memory
//! stays flat however large the site (a million rows per table: see `bench/SCALE.md`),
//! and a [`Progress`] hears of every batch.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, SmallInt, Text, Timestamp};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::accounts::model::User;
use crate::db::migrations::sync_id_sequences;
use crate::db::schema::{auth_group, django_admin_log};
use crate::db::{DbConnection, DbError};
use crate::lettings::model::{Address, Letting};
use crate::profiles::model::Profile;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}: no such file")]
    Missing(PathBuf),
    #[error("{path}: not a readable SQLite database ({reason})")]
    NotSqlite { path: PathBuf, reason: String },
    #[error("{0}: not an Orange County Lettings Django database (no auth_user with lettings and profiles tables)")]
    NotDjango(PathBuf),
    #[error("{path}: cannot read {table}: {source}")]
    Read {
        path: PathBuf,
        table: &'static str,
        source: diesel::result::Error,
    },
    #[error("cannot import {table} row {id}: {source}; nothing was imported")]
    Row {
        table: &'static str,
        id: i32,
        source: diesel::result::Error,
    },
    #[error("cannot import {table} rows {first} to {last}: {source}; nothing was imported")]
    Batch {
        table: &'static str,
        first: i32,
        last: i32,
        source: diesel::result::Error,
    },
    #[error("import failed, nothing was imported: {0}")]
    Database(#[from] DbError),
    /// A dry run's way out of its transaction (never shown: `import_from` returns the
    /// report it carries).
    #[error("dry run: rolled back")]
    RolledBack(Box<ImportReport>),
}

/// What an import does with a row the site already has (the same id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Overwrite it with the Django database's (staff edits since are lost), and the
    /// user's groups and permissions with it.
    Replace,
    /// Keep it as the site has it: only rows (and users' access) the site lacks are added.
    Merge,
}

/// What an import changed in the tables it fills (users, addresses, lettings, profiles,
/// history), counted from the database itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Changes {
    /// Rows the site did not have.
    pub added: usize,
    /// Rows the site had, now different (`Replace` only).
    pub updated: usize,
    /// Rows the site has that the Django database does not (kept: an import never deletes).
    pub only_here: usize,
}

/// Which version of the Django project wrote the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One app, `oc_lettings_site_*` tables.
    Original,
    /// Apps `lettings` and `profiles`.
    Refactored,
}

impl Layout {
    fn tables(self) -> [&'static str; 3] {
        match self {
            Layout::Original => [
                "oc_lettings_site_address",
                "oc_lettings_site_letting",
                "oc_lettings_site_profile",
            ],
            Layout::Refactored => ["lettings_address", "lettings_letting", "profiles_profile"],
        }
    }
}

/// What an import copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportReport {
    pub users: usize,
    pub addresses: usize,
    pub lettings: usize,
    pub profiles: usize,
    /// Admin history entries (`django_admin_log`).
    pub history: usize,
    pub groups: usize,
    /// Permissions given to users and groups (`auth_user_user_permissions`,
    /// `auth_group_permissions`) that the port has.
    pub grants: usize,
    /// Grants of permissions the port has no model for (Django's own `auth`, `admin`,
    /// `sessions`…), not carried over.
    pub skipped_grants: usize,
    /// What it changed (the counts above are what it read).
    pub changes: Changes,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} users, {} addresses, {} lettings, {} profiles, {} history entries, {} groups, {} permission grants",
            self.users, self.addresses, self.lettings, self.profiles, self.history, self.groups, self.grants
        )?;
        if self.skipped_grants > 0 {
            write!(
                f,
                " ({} grants of Django's own permissions left out: only superusers manage users and groups here)",
                self.skipped_grants
            )?;
        }
        let Changes {
            added,
            updated,
            only_here,
        } = self.changes;
        let rows = |n: usize| if n == 1 { "row" } else { "rows" };
        write!(f, "; {added} {} added, {updated} updated", rows(added))?;
        if only_here > 0 {
            write!(f, ", {only_here} {} only in this site kept", rows(only_here))?;
        }
        Ok(())
    }
}

/// Everything read from the Django database.
#[derive(Debug, Default)]
pub struct DjangoData {
    pub layout: Option<Layout>,
    pub users: Vec<User>,
    pub addresses: Vec<Address>,
    pub lettings: Vec<Letting>,
    pub profiles: Vec<Profile>,
    pub history: Vec<LogEntry>,
    pub access: Access,
}

/// Django's groups and permissions, as the port names them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Access {
    /// (id, name)
    pub groups: Vec<(i32, String)>,
    /// (group id, permission)
    pub group_permissions: Vec<(i32, String)>,
    /// (user id, group id)
    pub memberships: Vec<(i32, i32)>,
    /// (user id, permission)
    pub user_permissions: Vec<(i32, String)>,
    /// Grants of permissions the port does not have.
    pub skipped: usize,
}

/// A Django permission (its content type's app label and its codename) as the port names
/// it (`lettings.view_letting`), if the port has it.
pub fn permission(app_label: &str, codename: &str) -> Option<String> {
    let app = match (app_label, codename.rsplit('_').next()) {
        ("oc_lettings_site" | "lettings", Some("address" | "letting")) => "lettings",
        ("oc_lettings_site" | "profiles", Some("profile")) => "profiles",
        _ => return None,
    };
    let name = format!("{app}.{codename}");
    crate::admin::permissions::is_known(&name).then_some(name)
}

/// One row of Django's `django_admin_log`, its content type named as the port's admin
/// names the model (`lettings.letting`); a model the port does not have keeps Django's
/// `app_label.model`.
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset)]
#[diesel(table_name = django_admin_log)]
pub struct LogEntry {
    pub id: i32,
    pub action_time: NaiveDateTime,
    /// The author; `None` once the user has been deleted (the entry stays).
    pub user_id: Option<i32>,
    /// The author's username, kept with the entry so that it outlives the user.
    pub username: String,
    pub content_type: String,
    pub object_id: Option<String>,
    pub object_repr: String,
    pub action_flag: i16,
    pub change_message: String,
}

impl LogEntry {
    /// The entry as History pages may show it: no control or bidi-override character
    /// from another site's database makes it read as something else.
    pub fn displayable(self) -> Self {
        LogEntry {
            object_repr: crate::forms::displayable(&self.object_repr).chars().take(200).collect(),
            change_message: crate::forms::displayable(&self.change_message),
            ..self
        }
    }
}

/// A Django content type as the port's admin names the model.
pub fn content_type(app_label: &str, model: &str) -> String {
    match (app_label, model) {
        ("oc_lettings_site" | "lettings", "address") => "lettings.address".to_owned(),
        ("oc_lettings_site" | "lettings", "letting") => "lettings.letting".to_owned(),
        ("oc_lettings_site" | "profiles", "profile") => "profiles.profile".to_owned(),
        ("auth", "user") => "auth.user".to_owned(),
        (app, model) => format!("{app}.{model}"),
    }
}

#[derive(QueryableByName)]
struct LogRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Timestamp)]
    action_time: NaiveDateTime,
    #[diesel(sql_type = Integer)]
    user_id: i32,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Text)]
    app_label: String,
    #[diesel(sql_type = Text)]
    model: String,
    #[diesel(sql_type = Nullable<Text>)]
    object_id: Option<String>,
    #[diesel(sql_type = Text)]
    object_repr: String,
    #[diesel(sql_type = SmallInt)]
    action_flag: i16,
    #[diesel(sql_type = Text)]
    change_message: String,
}

#[derive(QueryableByName)]
struct GroupRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct GrantRow {
    #[diesel(sql_type = Integer)]
    owner: i32,
    #[diesel(sql_type = Text)]
    app_label: String,
    #[diesel(sql_type = Text)]
    codename: String,
}

#[derive(QueryableByName)]
struct MembershipRow {
    #[diesel(sql_type = Integer)]
    user_id: i32,
    #[diesel(sql_type = Integer)]
    group_id: i32,
}

fn table_names(path: &Path, conn: &mut SqliteConnection) -> Result<Vec<String>, ImportError> {
    let names: Vec<TableName> = diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table'")
        .load(conn)
        .map_err(|source| ImportError::Read {
            path: path.to_path_buf(),
            table: "sqlite_master",
            source,
        })?;
    Ok(names.into_iter().map(|n| n.name).collect())
}

fn query<Row>(path: &Path, conn: &mut SqliteConnection, table: &'static str, sql: &str) -> Result<Vec<Row>, ImportError>
where
    Row: QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    diesel::sql_query(sql).load(conn).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        table,
        source,
    })
}

/// The Django site's groups, memberships and permission grants, when it has them; a
/// grant of a permission the port does not have is counted, not kept.
fn read_access(path: &Path, conn: &mut SqliteConnection) -> Result<Access, ImportError> {
    let names = table_names(path, conn)?;
    let has = |table: &str| names.iter().any(|n| n == table);
    let mut access = Access::default();
    if has("auth_group") && has("auth_group_permissions") && has("auth_user_groups") {
        let groups: Vec<GroupRow> = query(path, conn, "auth_group", "SELECT id, name FROM auth_group ORDER BY id")?;
        access.groups = groups.into_iter().map(|g| (g.id, g.name)).collect();
        let memberships: Vec<MembershipRow> = query(
            path,
            conn,
            "auth_user_groups",
            "SELECT user_id, group_id FROM auth_user_groups ORDER BY id",
        )?;
        access.memberships = memberships.into_iter().map(|m| (m.user_id, m.group_id)).collect();
    }
    let grants = |table: &'static str, owner: &str| {
        format!(
            "SELECT g.{owner} AS owner, COALESCE(ct.app_label, '') AS app_label, p.codename AS codename \
             FROM {table} g JOIN auth_permission p ON p.id = g.permission_id \
             LEFT JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY g.id"
        )
    };
    if has("auth_permission") && has("django_content_type") {
        for (table, owner) in [
            ("auth_group_permissions", "group_id"),
            ("auth_user_user_permissions", "user_id"),
        ] {
            if !has(table) {
                continue;
            }
            let rows: Vec<GrantRow> = query(path, conn, table, &grants(table, owner))?;
            for row in rows {
                match permission(&row.app_label, &row.codename) {
                    Some(name) if table == "auth_group_permissions" => access.group_permissions.push((row.owner, name)),
                    Some(name) => access.user_permissions.push((row.owner, name)),
                    None => access.skipped += 1,
                }
            }
        }
    }
    Ok(access)
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    password: String,
    #[diesel(sql_type = Nullable<Timestamp>)]
    last_login: Option<NaiveDateTime>,
    #[diesel(sql_type = Bool)]
    is_superuser: bool,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Text)]
    first_name: String,
    #[diesel(sql_type = Text)]
    last_name: String,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Bool)]
    is_staff: bool,
    #[diesel(sql_type = Bool)]
    is_active: bool,
    #[diesel(sql_type = Timestamp)]
    date_joined: NaiveDateTime,
}

#[derive(QueryableByName)]
struct AddressRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Integer)]
    number: i32,
    #[diesel(sql_type = Text)]
    street: String,
    #[diesel(sql_type = Text)]
    city: String,
    #[diesel(sql_type = Text)]
    state: String,
    #[diesel(sql_type = Integer)]
    zip_code: i32,
    #[diesel(sql_type = Text)]
    country_iso_code: String,
}

#[derive(QueryableByName)]
struct LettingRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Integer)]
    address_id: i32,
}

#[derive(QueryableByName)]
struct ProfileRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    favorite_city: String,
    #[diesel(sql_type = Integer)]
    user_id: i32,
}

/// Characters that would change the meaning of a SQLite `file:` URI.
const URI_UNSAFE: &AsciiSet = &CONTROLS.add(b'%').add(b'?').add(b'#').add(b' ');

/// Opens the Django file read-only: the import never writes to its source.
fn open_read_only(path: &Path) -> Result<SqliteConnection, ImportError> {
    if !path.is_file() {
        return Err(ImportError::Missing(path.to_path_buf()));
    }
    let not_sqlite = |reason: String| ImportError::NotSqlite {
        path: path.to_path_buf(),
        reason,
    };
    let text = path
        .to_str()
        .ok_or_else(|| not_sqlite("the path is not valid UTF-8".into()))?;
    let uri = format!("file:{}?mode=ro", utf8_percent_encode(text, URI_UNSAFE));
    SqliteConnection::establish(&uri).map_err(|err| not_sqlite(err.to_string()))
}

fn detect_layout(path: &Path, conn: &mut SqliteConnection) -> Result<Layout, ImportError> {
    let names: Vec<TableName> = diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table'")
        .load(conn)
        .map_err(|err| ImportError::NotSqlite {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
    let has = |table: &str| names.iter().any(|n| n.name == table);
    if !has("auth_user") {
        return Err(ImportError::NotDjango(path.to_path_buf()));
    }
    [Layout::Refactored, Layout::Original]
        .into_iter()
        .find(|layout| layout.tables().iter().all(|t| has(t)))
        .ok_or_else(|| ImportError::NotDjango(path.to_path_buf()))
}

/// Rows read, and written, at a time: 1 000 rows of the widest table (users, 11 columns)
/// are 11 000 bind parameters, well under SQLite's (32 766) and PostgreSQL's (65 535) limits.
pub const BATCH: i64 = 1000;

/// Told how an import goes: a table's row count before it starts, then each batch.
pub trait Progress {
    fn table(&mut self, name: &'static str, rows: u64);
    fn advance(&mut self, rows: u64);
    fn done(&mut self) {}
}

/// No progress shown (tests, and callers with nobody watching).
pub struct Quiet;

impl Progress for Quiet {
    fn table(&mut self, _name: &'static str, _rows: u64) {}
    fn advance(&mut self, _rows: u64) {}
}

/// The import's progress for a person: on a terminal, one bar redrawn in place per table
/// (`users [#########-----------]  450000/1000000  45%`); elsewhere (a log, CI), one plain
/// line per table when it is done (`users: 1000000 rows in 4.2 s`).
pub struct Bar<W: std::io::Write> {
    out: W,
    terminal: bool,
    table: &'static str,
    total: u64,
    done: u64,
    shown: Option<u64>,
    started: std::time::Instant,
}

impl<W: std::io::Write> Bar<W> {
    pub fn new(out: W, terminal: bool) -> Self {
        Bar {
            out,
            terminal,
            table: "",
            total: 0,
            done: 0,
            shown: None,
            started: std::time::Instant::now(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Ends the current table's bar or line. (Progress is best effort: a closed stderr
    /// never fails an import.)
    fn close_table(&mut self) {
        if self.table.is_empty() {
            return;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        if self.terminal {
            self.draw();
            let _ = writeln!(self.out, " {seconds:.1} s");
        } else {
            // The last step counts indexes built, not rows.
            let unit = if self.table == "indexes" { "built" } else { "rows" };
            let _ = writeln!(self.out, "{}: {} {unit} in {seconds:.1} s", self.table, self.done);
        }
        self.table = "";
    }

    fn draw(&mut self) {
        const WIDTH: u64 = 20;
        let percent = (self.done * 100).checked_div(self.total).unwrap_or(100).min(100);
        let filled = (percent * WIDTH / 100) as usize;
        let _ = write!(
            self.out,
            "\r{:<9} [{}{}] {:>9}/{:<9} {percent:>3}%",
            self.table,
            "#".repeat(filled),
            "-".repeat(WIDTH as usize - filled),
            self.done,
            self.total
        );
        let _ = self.out.flush();
        self.shown = Some(percent);
    }
}

impl<W: std::io::Write> Progress for Bar<W> {
    fn table(&mut self, name: &'static str, rows: u64) {
        self.close_table();
        self.table = name;
        self.total = rows;
        self.done = 0;
        self.shown = None;
        self.started = std::time::Instant::now();
        if self.terminal {
            self.draw();
        }
    }

    fn advance(&mut self, rows: u64) {
        self.done += rows;
        let percent = (self.done * 100).checked_div(self.total).unwrap_or(100);
        if self.terminal && self.shown != Some(percent) {
            self.draw();
        }
    }

    fn done(&mut self) {
        self.close_table();
    }
}

/// The Django database, opened read-only, read a batch at a time.
pub struct Source {
    path: PathBuf,
    conn: SqliteConnection,
    layout: Layout,
    has_history: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

impl Source {
    pub fn open(path: &Path) -> Result<Source, ImportError> {
        let mut conn = open_read_only(path)?;
        let layout = detect_layout(path, &mut conn)?;
        let has_history = table_names(path, &mut conn)?.iter().any(|n| n == "django_admin_log");
        Ok(Source {
            path: path.to_path_buf(),
            conn,
            layout,
            has_history,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// How many rows `table` holds (for the progress bar).
    fn count(&mut self, table: &'static str) -> Result<u64, ImportError> {
        // `table` comes from `Layout::tables` or this module, never from input.
        let count: Count = diesel::sql_query(format!("SELECT count(*) AS count FROM \"{table}\""))
            .get_result(&mut self.conn)
            .map_err(|source| ImportError::Read {
                path: self.path.clone(),
                table,
                source,
            })?;
        Ok(u64::try_from(count.count).unwrap_or(0))
    }

    /// The next [`BATCH`] rows of `table` after id `after`, in id order.
    fn batch<Row>(&mut self, table: &'static str, select: &str, after: i32) -> Result<Vec<Row>, ImportError>
    where
        Row: QueryableByName<diesel::sqlite::Sqlite> + 'static,
    {
        // `table` and `select` come from this module, never from input.
        diesel::sql_query(format!(
            "{select} WHERE \"{table}\".id > ? ORDER BY \"{table}\".id LIMIT {BATCH}"
        ))
        .bind::<Integer, _>(after)
        .load(&mut self.conn)
        .map_err(|source| ImportError::Read {
            path: self.path.clone(),
            table,
            source,
        })
    }

    fn read_users(&mut self, after: i32) -> Result<Vec<User>, ImportError> {
        let rows: Vec<UserRow> = self.batch(
            "auth_user",
            "SELECT id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, \
             is_active, date_joined FROM auth_user",
            after,
        )?;
        Ok(rows
            .into_iter()
            .map(|u| User {
                id: u.id,
                password: u.password,
                last_login: u.last_login,
                is_superuser: u.is_superuser,
                username: u.username,
                first_name: u.first_name,
                last_name: u.last_name,
                email: u.email,
                is_staff: u.is_staff,
                is_active: u.is_active,
                date_joined: u.date_joined,
            })
            .collect())
    }

    fn read_addresses(&mut self, after: i32) -> Result<Vec<Address>, ImportError> {
        let table = self.layout.tables()[0];
        let rows: Vec<AddressRow> = self.batch(
            table,
            &format!("SELECT id, number, street, city, state, zip_code, country_iso_code FROM \"{table}\""),
            after,
        )?;
        Ok(rows
            .into_iter()
            .map(|a| Address {
                id: a.id,
                number: a.number,
                street: a.street,
                city: a.city,
                state: a.state,
                zip_code: a.zip_code,
                country_iso_code: a.country_iso_code,
            })
            .collect())
    }

    fn read_lettings(&mut self, after: i32) -> Result<Vec<Letting>, ImportError> {
        let table = self.layout.tables()[1];
        let rows: Vec<LettingRow> =
            self.batch(table, &format!("SELECT id, title, address_id FROM \"{table}\""), after)?;
        Ok(rows
            .into_iter()
            .map(|l| Letting {
                id: l.id,
                title: l.title,
                address_id: l.address_id,
            })
            .collect())
    }

    fn read_profiles(&mut self, after: i32) -> Result<Vec<Profile>, ImportError> {
        let table = self.layout.tables()[2];
        let rows: Vec<ProfileRow> = self.batch(
            table,
            &format!("SELECT id, favorite_city, user_id FROM \"{table}\""),
            after,
        )?;
        Ok(rows
            .into_iter()
            .map(|p| Profile {
                id: p.id,
                favorite_city: p.favorite_city,
                user_id: p.user_id,
            })
            .collect())
    }

    /// The admin history (none when the site has no `django_admin_log`).
    fn read_history(&mut self, after: i32) -> Result<Vec<LogEntry>, ImportError> {
        if !self.has_history {
            return Ok(Vec::new());
        }
        let rows: Vec<LogRow> = self.batch(
            "django_admin_log",
            "SELECT django_admin_log.id, action_time, user_id, COALESCE(u.username, '') AS username, \
             COALESCE(ct.app_label, '') AS app_label, \
             COALESCE(ct.model, '') AS model, object_id, object_repr, action_flag, change_message \
             FROM django_admin_log LEFT JOIN django_content_type ct ON ct.id = django_admin_log.content_type_id \
             LEFT JOIN auth_user u ON u.id = django_admin_log.user_id",
            after,
        )?;
        Ok(rows
            .into_iter()
            .map(|r| {
                LogEntry {
                    id: r.id,
                    action_time: r.action_time,
                    user_id: Some(r.user_id),
                    username: r.username,
                    content_type: content_type(&r.app_label, &r.model),
                    object_id: r.object_id,
                    object_repr: r.object_repr,
                    action_flag: r.action_flag,
                    change_message: r.change_message,
                }
                .displayable()
            })
            .collect())
    }

    /// Each table's rows, for the progress bar: users, addresses, lettings, profiles,
    /// history.
    fn count_rows(&mut self) -> Result<[u64; 5], ImportError> {
        let [addresses, lettings, profiles] = self.layout.tables();
        Ok([
            self.count("auth_user")?,
            self.count(addresses)?,
            self.count(lettings)?,
            self.count(profiles)?,
            if self.has_history {
                self.count("django_admin_log")?
            } else {
                0
            },
        ])
    }
}

/// Where an import reads a Django site's rows: its SQLite database ([`Source`]), or a
/// fixture read whole ([`DjangoData`], what `loaddata` builds). Each table is read in id
/// order, [`BATCH`] rows after a given id at a time.
pub trait Rows {
    fn access(&mut self) -> Result<Access, ImportError>;
    /// Each table's rows, for the progress bar: users, addresses, lettings, profiles,
    /// history.
    fn counts(&mut self) -> Result<[u64; 5], ImportError>;
    fn users(&mut self, after: i32) -> Result<Vec<User>, ImportError>;
    fn addresses(&mut self, after: i32) -> Result<Vec<Address>, ImportError>;
    fn lettings(&mut self, after: i32) -> Result<Vec<Letting>, ImportError>;
    fn profiles(&mut self, after: i32) -> Result<Vec<Profile>, ImportError>;
    fn history(&mut self, after: i32) -> Result<Vec<LogEntry>, ImportError>;
}

impl Rows for Source {
    fn access(&mut self) -> Result<Access, ImportError> {
        read_access(&self.path, &mut self.conn)
    }
    fn counts(&mut self) -> Result<[u64; 5], ImportError> {
        self.count_rows()
    }
    fn users(&mut self, after: i32) -> Result<Vec<User>, ImportError> {
        self.read_users(after)
    }
    fn addresses(&mut self, after: i32) -> Result<Vec<Address>, ImportError> {
        self.read_addresses(after)
    }
    fn lettings(&mut self, after: i32) -> Result<Vec<Letting>, ImportError> {
        self.read_lettings(after)
    }
    fn profiles(&mut self, after: i32) -> Result<Vec<Profile>, ImportError> {
        self.read_profiles(after)
    }
    fn history(&mut self, after: i32) -> Result<Vec<LogEntry>, ImportError> {
        self.read_history(after)
    }
}

/// The next [`BATCH`] rows of `rows` (sorted by id) after id `after`.
fn slice_after<T: Clone>(rows: &[T], after: i32, id: impl Fn(&T) -> i32) -> Vec<T> {
    let start = rows.partition_point(|row| id(row) <= after);
    let end = rows.len().min(start + BATCH as usize);
    rows[start..end].to_vec()
}

impl DjangoData {
    /// Puts every table in id order, as [`Rows`] reads it.
    pub fn sort(&mut self) {
        self.users.sort_by_key(|r| r.id);
        self.addresses.sort_by_key(|r| r.id);
        self.lettings.sort_by_key(|r| r.id);
        self.profiles.sort_by_key(|r| r.id);
        self.history.sort_by_key(|r| r.id);
    }
}

/// Rows held in memory (sorted with [`DjangoData::sort`]).
impl Rows for DjangoData {
    fn access(&mut self) -> Result<Access, ImportError> {
        Ok(self.access.clone())
    }
    fn counts(&mut self) -> Result<[u64; 5], ImportError> {
        Ok([
            self.users.len() as u64,
            self.addresses.len() as u64,
            self.lettings.len() as u64,
            self.profiles.len() as u64,
            self.history.len() as u64,
        ])
    }
    fn users(&mut self, after: i32) -> Result<Vec<User>, ImportError> {
        Ok(slice_after(&self.users, after, |r| r.id))
    }
    fn addresses(&mut self, after: i32) -> Result<Vec<Address>, ImportError> {
        Ok(slice_after(&self.addresses, after, |r| r.id))
    }
    fn lettings(&mut self, after: i32) -> Result<Vec<Letting>, ImportError> {
        Ok(slice_after(&self.lettings, after, |r| r.id))
    }
    fn profiles(&mut self, after: i32) -> Result<Vec<Profile>, ImportError> {
        Ok(slice_after(&self.profiles, after, |r| r.id))
    }
    fn history(&mut self, after: i32) -> Result<Vec<LogEntry>, ImportError> {
        Ok(slice_after(&self.history, after, |r| r.id))
    }
}

/// Walks a table by id, batch after batch, from the first id on: `read` gives the rows
/// after an id (a batch), `id` names a row's, `each` takes each batch. Keyset paging: the
/// millionth batch costs what the first does. (The import's reads and `dumpdata` share it.)
pub fn walk_by_id<T, E>(
    mut read: impl FnMut(i32) -> Result<Vec<T>, E>,
    id: impl Fn(&T) -> i32,
    mut each: impl FnMut(Vec<T>) -> Result<(), E>,
) -> Result<(), E> {
    let mut after = i32::MIN;
    loop {
        let rows = read(after)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = id(last);
        each(rows)?;
    }
}

/// Every batch of one table: `write` takes them; the rows written.
fn each_batch<T>(
    read: impl FnMut(i32) -> Result<Vec<T>, ImportError>,
    mut write: impl FnMut(&[T]) -> Result<(), ImportError>,
    id: impl Fn(&T) -> i32,
    progress: &mut dyn Progress,
) -> Result<usize, ImportError> {
    let mut total = 0;
    walk_by_id(read, id, |rows| {
        write(&rows)?;
        total += rows.len();
        progress.advance(rows.len() as u64);
        Ok(())
    })?;
    Ok(total)
}

/// Every row of one table, batch after batch.
fn every_row<T: Clone>(
    read: impl FnMut(i32) -> Result<Vec<T>, ImportError>,
    id: impl Fn(&T) -> i32,
) -> Result<Vec<T>, ImportError> {
    let mut all = Vec::new();
    each_batch(
        read,
        |rows| {
            all.extend_from_slice(rows);
            Ok(())
        },
        id,
        &mut Quiet,
    )?;
    Ok(all)
}

/// Reads every row the site needs from a Django database file, at once (for tests and
/// small sites; the import itself streams).
pub fn read_django(path: &Path) -> Result<DjangoData, ImportError> {
    let mut source = Source::open(path)?;
    let mut data = DjangoData {
        layout: Some(source.layout()),
        access: source.access()?,
        ..DjangoData::default()
    };
    data.users = every_row(|a| source.users(a), |r| r.id)?;
    data.addresses = every_row(|a| source.addresses(a), |r| r.id)?;
    data.lettings = every_row(|a| source.lettings(a), |r| r.id)?;
    data.profiles = every_row(|a| source.profiles(a), |r| r.id)?;
    data.history = every_row(|a| source.history(a), |r| r.id)?;
    Ok(data)
}

fn row_error(table: &'static str, id: i32) -> impl FnOnce(diesel::result::Error) -> ImportError {
    move |source| ImportError::Row { table, id, source }
}

/// One value of an imported row, bound as a parameter.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Int(i32),
    OptionalInt(Option<i32>),
    Small(i16),
    Bool(bool),
    Text(&'a str),
    OptionalText(Option<&'a str>),
    Time(NaiveDateTime),
    OptionalTime(Option<NaiveDateTime>),
}

/// A row of one of the tables an import fills: its table, its columns after `id`, and its
/// values in that order.
trait ImportRow {
    const TABLE: &'static str;
    /// How errors name the table.
    const LABEL: &'static str;
    const COLUMNS: &'static [&'static str];
    fn id(&self) -> i32;
    fn values(&self) -> Vec<Value<'_>>;
}

impl ImportRow for User {
    const TABLE: &'static str = "auth_user";
    const LABEL: &'static str = "auth_user";
    const COLUMNS: &'static [&'static str] = &[
        "password",
        "last_login",
        "is_superuser",
        "username",
        "first_name",
        "last_name",
        "email",
        "is_staff",
        "is_active",
        "date_joined",
    ];
    fn id(&self) -> i32 {
        self.id
    }
    fn values(&self) -> Vec<Value<'_>> {
        vec![
            Value::Text(&self.password),
            Value::OptionalTime(self.last_login),
            Value::Bool(self.is_superuser),
            Value::Text(&self.username),
            Value::Text(&self.first_name),
            Value::Text(&self.last_name),
            Value::Text(&self.email),
            Value::Bool(self.is_staff),
            Value::Bool(self.is_active),
            Value::Time(self.date_joined),
        ]
    }
}

impl ImportRow for Address {
    const TABLE: &'static str = "lettings_address";
    const LABEL: &'static str = "address";
    const COLUMNS: &'static [&'static str] = &["number", "street", "city", "state", "zip_code", "country_iso_code"];
    fn id(&self) -> i32 {
        self.id
    }
    fn values(&self) -> Vec<Value<'_>> {
        vec![
            Value::Int(self.number),
            Value::Text(&self.street),
            Value::Text(&self.city),
            Value::Text(&self.state),
            Value::Int(self.zip_code),
            Value::Text(&self.country_iso_code),
        ]
    }
}

impl ImportRow for Letting {
    const TABLE: &'static str = "lettings_letting";
    const LABEL: &'static str = "letting";
    const COLUMNS: &'static [&'static str] = &["title", "address_id"];
    fn id(&self) -> i32 {
        self.id
    }
    fn values(&self) -> Vec<Value<'_>> {
        vec![Value::Text(&self.title), Value::Int(self.address_id)]
    }
}

impl ImportRow for Profile {
    const TABLE: &'static str = "profiles_profile";
    const LABEL: &'static str = "profile";
    const COLUMNS: &'static [&'static str] = &["favorite_city", "user_id"];
    fn id(&self) -> i32 {
        self.id
    }
    fn values(&self) -> Vec<Value<'_>> {
        vec![Value::Text(&self.favorite_city), Value::Int(self.user_id)]
    }
}

impl ImportRow for LogEntry {
    const TABLE: &'static str = "django_admin_log";
    const LABEL: &'static str = "django_admin_log";
    const COLUMNS: &'static [&'static str] = &[
        "action_time",
        "user_id",
        "content_type",
        "object_id",
        "object_repr",
        "action_flag",
        "change_message",
        "username",
    ];
    fn id(&self) -> i32 {
        self.id
    }
    fn values(&self) -> Vec<Value<'_>> {
        vec![
            Value::Time(self.action_time),
            Value::OptionalInt(self.user_id),
            Value::Text(&self.content_type),
            Value::OptionalText(self.object_id.as_deref()),
            Value::Text(&self.object_repr),
            Value::Small(self.action_flag),
            Value::Text(&self.change_message),
            Value::Text(&self.username),
        ]
    }
}

/// `INSERT INTO table (id, columns…) VALUES (…), … ON CONFLICT (id) DO UPDATE SET column =
/// excluded.column, …` for `rows` rows, with the backend's placeholders (`?`, or `$1`…).
/// SQLite (3.24+) and PostgreSQL both speak it. Table and columns are this module's
/// constants; every value is a bound parameter.
fn upsert_sql(postgres: bool, table: &str, columns: &[&str], rows: usize, mode: Mode) -> String {
    let width = columns.len() + 1;
    let mut sql = format!("INSERT INTO {table} (id, {}) VALUES ", columns.join(", "));
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            if postgres {
                sql.push_str(&format!("${}", row * width + column + 1));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    match mode {
        Mode::Merge => sql.push_str(" ON CONFLICT (id) DO NOTHING"),
        Mode::Replace => {
            // Only a row that differs is rewritten, so the count of rows written is the
            // count of rows added or changed (SQLite 3.39+ and PostgreSQL both have
            // IS DISTINCT FROM, equal NULLs being equal).
            let updates: Vec<String> = columns.iter().map(|c| format!("{c} = excluded.{c}")).collect();
            let differs: Vec<String> = columns
                .iter()
                .map(|c| format!("{table}.{c} IS DISTINCT FROM excluded.{c}"))
                .collect();
            sql.push_str(&format!(
                " ON CONFLICT (id) DO UPDATE SET {} WHERE {}",
                updates.join(", "),
                differs.join(" OR ")
            ));
        }
    }
    sql
}

/// Binds `values` to a boxed raw query, in order.
macro_rules! bind_values {
    ($query:expr, $values:expr) => {{
        use diesel::sql_types::{Bool, Integer, Nullable, SmallInt, Text, Timestamp};
        let mut query = $query;
        for value in $values {
            query = match *value {
                Value::Int(v) => query.bind::<Integer, _>(v),
                Value::Small(v) => query.bind::<SmallInt, _>(v),
                Value::Bool(v) => query.bind::<Bool, _>(v),
                Value::Text(v) => query.bind::<Text, _>(v),
                Value::OptionalText(v) => query.bind::<Nullable<Text>, _>(v),
                Value::OptionalInt(v) => query.bind::<Nullable<Integer>, _>(v),
                Value::Time(v) => query.bind::<Timestamp, _>(v),
                Value::OptionalTime(v) => query.bind::<Nullable<Timestamp>, _>(v),
            };
        }
        query
    }};
}

/// Runs one multi-row upsert of `rows` (of one table) on the connection's own backend.
fn upsert<R: ImportRow>(conn: &mut DbConnection, rows: &[R], mode: Mode) -> diesel::QueryResult<usize> {
    let mut values: Vec<Value<'_>> = Vec::with_capacity(rows.len() * (R::COLUMNS.len() + 1));
    for row in rows {
        values.push(Value::Int(row.id()));
        values.extend(row.values());
    }
    match conn {
        DbConnection::Sqlite(conn) => {
            let sql = upsert_sql(false, R::TABLE, R::COLUMNS, rows.len(), mode);
            bind_values!(diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>(), &values).execute(conn)
        }
        DbConnection::Postgresql(conn) => {
            let sql = upsert_sql(true, R::TABLE, R::COLUMNS, rows.len(), mode);
            bind_values!(diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>(), &values).execute(conn)
        }
    }
}

/// Writes a batch of one table's rows as one multi-row upsert (one statement, one round
/// trip; the code is one raw statement and seven bind types for every table and both
/// backends, not a typed insert per table). The batch runs in a savepoint; when it fails,
/// its rows are tried one by one to name the row that broke a constraint
/// (`ImportError::Row`).
fn write_rows<R: ImportRow>(rows: &[R], conn: &mut DbConnection, mode: Mode) -> Result<usize, ImportError> {
    let batch = conn.transaction(|conn| upsert(conn, rows, mode));
    let batch_failure = match batch {
        Ok(written) => return Ok(written),
        Err(failure) => failure,
    };
    for row in rows {
        conn.transaction(|conn| upsert(conn, std::slice::from_ref(row), mode))
            .map_err(row_error(R::LABEL, row.id()))?;
    }
    // Every row went in alone: the batch failed for itself.
    Err(ImportError::Batch {
        table: R::LABEL,
        first: rows.first().map_or(0, ImportRow::id),
        last: rows.last().map_or(0, ImportRow::id),
        source: batch_failure,
    })
}

/// A batch of users, and their groups and permissions: with `Merge`, only for the users
/// the site did not have (a staff member's changes to an existing user's access stay).
fn write_users(users: &[User], access: &Access, conn: &mut DbConnection, mode: Mode) -> Result<usize, ImportError> {
    let fresh: Vec<User> = match mode {
        Mode::Replace => Vec::new(),
        Mode::Merge => {
            let ids: Vec<i32> = users.iter().map(|u| u.id).collect();
            use crate::db::schema::auth_user;
            let existing: Vec<i32> = auth_user::table
                .filter(auth_user::id.eq_any(&ids))
                .select(auth_user::id)
                .load(conn)?;
            users.iter().filter(|u| !existing.contains(&u.id)).cloned().collect()
        }
    };
    let written = write_rows(users, conn, mode)?;
    match mode {
        Mode::Replace => write_user_access(users, access, conn)?,
        Mode::Merge => write_user_access(&fresh, access, conn)?,
    }
    Ok(written)
}

/// Streams the Django database at `source` into `conn`, in one transaction: groups, then
/// users (with their groups and permissions), addresses, lettings, profiles and history,
/// each [`BATCH`] rows at a time, telling `progress` of each batch. `mode` says what
/// becomes of rows the site already has; with `dry_run`, everything is done and counted,
/// then rolled back (the report says what a real run would change).
pub fn import_from<S: Rows>(
    source: &mut S,
    conn: &mut DbConnection,
    progress: &mut dyn Progress,
    mode: Mode,
    dry_run: bool,
) -> Result<ImportReport, ImportError> {
    let access = source.access()?;
    let [users, addresses, lettings, profiles, history] = source.counts()?;
    if let DbConnection::Sqlite(sqlite) = conn {
        // A larger page cache for the load (SQLite's default is 2 MB): the indexes' pages
        // stay in memory instead of being read back for every few rows.
        sqlite.batch_execute(&format!("PRAGMA cache_size = -{}", IMPORT_CACHE_KIB))?;
    }
    let report = conn.transaction(|conn| {
        let rebuilt = set_indexes_aside(conn)?;
        write_groups(&access, conn, mode)?;
        let mut report = ImportReport {
            groups: access.groups.len(),
            grants: access.group_permissions.len() + access.user_permissions.len(),
            skipped_grants: access.skipped,
            ..ImportReport::default()
        };
        progress.table("users", users);
        report.users = load_table(conn, "auth_user", &mut report.changes, |conn, changes| {
            each_batch(
                |after| source.users(after),
                |rows| write_users(rows, &access, conn, mode).map(|n| changes.written += n),
                |r| r.id,
                progress,
            )
        })?;
        progress.table("addresses", addresses);
        report.addresses = load_rows(conn, source, S::addresses, mode, &mut report.changes, progress)?;
        progress.table("lettings", lettings);
        report.lettings = load_rows(conn, source, S::lettings, mode, &mut report.changes, progress)?;
        progress.table("profiles", profiles);
        report.profiles = load_rows(conn, source, S::profiles, mode, &mut report.changes, progress)?;
        progress.table("history", history);
        report.history = load_rows(conn, source, S::history, mode, &mut report.changes, progress)?;
        // An entry whose author came by id alone gets the author's username from the site.
        conn.batch_execute(
            "UPDATE django_admin_log SET username = \
             (SELECT username FROM auth_user WHERE auth_user.id = django_admin_log.user_id) \
             WHERE username = '' AND user_id IS NOT NULL",
        )?;
        if !rebuilt.is_empty() {
            progress.table("indexes", rebuilt.len() as u64);
            for create in &rebuilt {
                conn.batch_execute(create)?;
                progress.advance(1);
            }
        }
        if dry_run {
            // Out through an error, so the transaction rolls back. (PostgreSQL's
            // sequences are not transactional: they are left alone.)
            return Err(ImportError::RolledBack(Box::new(report)));
        }
        sync_id_sequences(conn)?;
        Ok::<_, ImportError>(report)
    });
    if let DbConnection::Sqlite(sqlite) = conn {
        sqlite.batch_execute("PRAGMA cache_size = -2000")?;
    }
    let report = match report {
        Err(ImportError::RolledBack(report)) => *report,
        other => other?,
    };
    progress.done();
    Ok(report)
}

/// The rows one table's load wrote (an unchanged row is not rewritten).
#[derive(Default)]
struct Written {
    written: usize,
}

/// Loads one table with `load` (which returns the rows it read and counts the rows it
/// wrote) and adds to `changes` what the table's rows before and after say: rows added,
/// rows updated (written but not added), rows only in the site.
fn load_table(
    conn: &mut DbConnection,
    table: &str,
    changes: &mut Changes,
    load: impl FnOnce(&mut DbConnection, &mut Written) -> Result<usize, ImportError>,
) -> Result<usize, ImportError> {
    let before = row_count(conn, table)?;
    let mut written = Written::default();
    let read = load(conn, &mut written)?;
    let after = row_count(conn, table)?;
    let added = usize::try_from(after - before).unwrap_or(0);
    changes.added += added;
    changes.updated += written.written.saturating_sub(added);
    changes.only_here += usize::try_from(after).unwrap_or(0).saturating_sub(read);
    Ok(read)
}

/// Loads one table of rows (`read`: the source's reader of it) as [`load_table`] counts it.
fn load_rows<S: Rows, R: ImportRow>(
    conn: &mut DbConnection,
    source: &mut S,
    read: fn(&mut S, i32) -> Result<Vec<R>, ImportError>,
    mode: Mode,
    changes: &mut Changes,
    progress: &mut dyn Progress,
) -> Result<usize, ImportError> {
    load_table(conn, R::TABLE, changes, |conn, written| {
        each_batch(
            |after| read(source, after),
            |rows| write_rows(rows, conn, mode).map(|n| written.written += n),
            ImportRow::id,
            progress,
        )
    })
}

/// Whether the site already holds rows in any table an import fills (demo data included).
pub fn holds_data(conn: &mut DbConnection) -> Result<bool, ImportError> {
    for table in FILLED {
        if row_count(conn, table)? > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The rows of `table` (one of [`FILLED`], a constant of this module).
fn row_count(conn: &mut DbConnection, table: &str) -> Result<i64, ImportError> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        rows: i64,
    }
    let count: Count = diesel::sql_query(format!("SELECT COUNT(*) AS rows FROM {table}")).get_result(conn)?;
    Ok(count.rows)
}

/// SQLite's page cache during an import, in KiB (the import's memory goal is 256 MB).
const IMPORT_CACHE_KIB: u32 = 64 * 1024;

/// The tables an import fills (the site's own data; `backup` reports their rows too).
pub const FILLED: [&str; 5] = [
    "auth_user",
    "lettings_address",
    "lettings_letting",
    "profiles_profile",
    "django_admin_log",
];

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    found: bool,
}

/// Into a site with none of the rows yet, an import is a bulk load: the secondary indexes
/// of the tables it fills (the sort columns' btrees, PostgreSQL's trigram indexes; never a
/// primary key or a unique constraint, which the upserts need) and, on SQLite, the search
/// index's triggers are dropped first and made again once every row is in (the search
/// index rebuilt from its table), each in one pass instead of a million inserts
/// (a million-row import into PostgreSQL: 140 s before, see `bench/SCALE.md`). All of it
/// in the import's transaction: a failure leaves the indexes as they were. Returns the
/// statements that make again what was set aside (`CREATE INDEX`, `CREATE TRIGGER`, the
/// search index's rebuild); none when a table has rows.
fn set_indexes_aside(conn: &mut DbConnection) -> Result<Vec<String>, ImportError> {
    for table in FILLED {
        // `table` is a constant of this module.
        let any: Exists =
            diesel::sql_query(format!("SELECT EXISTS (SELECT 1 FROM {table}) AS found")).get_result(conn)?;
        if any.found {
            return Ok(Vec::new());
        }
    }
    let list = FILLED.map(|t| format!("'{t}'")).join(", ");
    let sql = match conn {
        // On SQLite, the search index's triggers too (its FTS5 tables are rebuilt from
        // their tables at the end, in one pass).
        DbConnection::Sqlite(_) => format!(
            "SELECT name, sql AS definition FROM sqlite_master \
             WHERE type IN ('index', 'trigger') AND sql IS NOT NULL AND tbl_name IN ({list}) \
             ORDER BY type, name"
        ),
        DbConnection::Postgresql(_) => format!(
            "SELECT i.indexname AS name, i.indexdef AS definition FROM pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.tablename IN ({list}) \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
                 WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass) \
             ORDER BY i.indexname"
        ),
    };
    let set_aside: Vec<IndexRow> = diesel::sql_query(sql).load(conn)?;
    for item in &set_aside {
        let kind = if item.definition.starts_with("CREATE TRIGGER") {
            "TRIGGER"
        } else {
            "INDEX"
        };
        conn.batch_execute(&format!("DROP {kind} \"{}\"", item.name.replace('"', "\"\"")))?;
    }
    let mut rebuild: Vec<String> = set_aside.into_iter().map(|i| i.definition).collect();
    if matches!(conn, DbConnection::Sqlite(_)) && !rebuild.is_empty() {
        for table in FILLED {
            let search = format!("{table}_search");
            let exists: Exists = diesel::sql_query(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?) AS found",
            )
            .bind::<Text, _>(&search)
            .get_result(conn)?;
            if exists.found {
                rebuild.push(format!("INSERT INTO {search} ({search}) VALUES ('rebuild')"));
            }
        }
    }
    Ok(rebuild)
}

/// Writes the groups (upserted by id), each with exactly the permissions it had.
fn write_groups(access: &Access, conn: &mut DbConnection, mode: Mode) -> Result<(), ImportError> {
    use crate::admin::permissions;
    let mut kept: Vec<i32> = Vec::new();
    if mode == Mode::Merge {
        // The site's own groups (and their permissions) stay as they are.
        let ids: Vec<i32> = access.groups.iter().map(|(id, _)| *id).collect();
        kept = auth_group::table
            .filter(auth_group::id.eq_any(&ids))
            .select(auth_group::id)
            .load(conn)?;
    }
    for (id, name) in access.groups.iter().filter(|(id, _)| !kept.contains(id)) {
        let updated = diesel::update(auth_group::table.find(id))
            .set(auth_group::name.eq(name))
            .execute(conn)
            .map_err(row_error("auth_group", *id))?;
        if updated == 0 {
            diesel::insert_into(auth_group::table)
                .values((auth_group::id.eq(id), auth_group::name.eq(name)))
                .execute(conn)
                .map_err(row_error("auth_group", *id))?;
        }
    }
    for (id, _) in access.groups.iter().filter(|(id, _)| !kept.contains(id)) {
        let granted: Vec<String> = access
            .group_permissions
            .iter()
            .filter(|(group, _)| group == id)
            .map(|(_, p)| p.clone())
            .collect();
        permissions::set_for_group(conn, *id, &granted)?;
    }
    Ok(())
}

/// Gives each user of a batch exactly the memberships and permissions it had (so a
/// second run changes nothing): theirs are deleted, then the source's inserted, a few
/// statements per batch whatever its size.
fn write_user_access(users: &[User], access: &Access, conn: &mut DbConnection) -> Result<(), ImportError> {
    use crate::db::schema::{auth_user_groups, auth_user_user_permissions};
    let ids: Vec<i32> = users.iter().map(|u| u.id).collect();
    let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
        return Ok(());
    };
    diesel::delete(auth_user_user_permissions::table.filter(auth_user_user_permissions::user_id.eq_any(&ids)))
        .execute(conn)?;
    diesel::delete(auth_user_groups::table.filter(auth_user_groups::user_id.eq_any(&ids))).execute(conn)?;
    // Ids come in order: a batch's grants are those with an owner in [first, last] that
    // it holds (few sites grant much; a scan per batch is fine).
    let mine = |user: &i32| (first..=last).contains(user) && ids.binary_search(user).is_ok();
    let batch = |source| ImportError::Batch {
        table: "auth_user_user_permissions and auth_user_groups",
        first,
        last,
        source,
    };
    for (user, permission) in access.user_permissions.iter().filter(|(user, _)| mine(user)) {
        diesel::insert_into(auth_user_user_permissions::table)
            .values((
                auth_user_user_permissions::user_id.eq(*user),
                auth_user_user_permissions::permission.eq(permission),
            ))
            .execute(conn)
            .map_err(batch)?;
    }
    for (user, group) in access.memberships.iter().filter(|(user, _)| mine(user)) {
        diesel::insert_into(auth_user_groups::table)
            .values((
                auth_user_groups::user_id.eq(*user),
                auth_user_groups::group_id.eq(*group),
            ))
            .execute(conn)
            .map_err(batch)?;
    }
    Ok(())
}

/// Reads the Django database at `path` and writes it into `conn`.
/// Imports `path` into `conn`, replacing rows the site has with the same id (what tests
/// and an empty site want; the command line asks first when the site holds data).
pub fn import_django(path: &Path, conn: &mut DbConnection) -> Result<ImportReport, ImportError> {
    import_from(&mut Source::open(path)?, conn, &mut Quiet, Mode::Replace, false)
}

impl From<diesel::result::Error> for ImportError {
    fn from(err: diesel::result::Error) -> Self {
        ImportError::Database(DbError::Query(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_redraws_in_place_on_a_terminal_and_writes_lines_elsewhere() {
        let mut bar = Bar::new(Vec::new(), true);
        bar.table("users", 4);
        bar.advance(1);
        bar.advance(1);
        bar.advance(2);
        bar.table("history", 0);
        bar.done();
        let shown = String::from_utf8(bar.into_inner()).unwrap();
        assert!(shown.starts_with("\rusers     [--------------------]         0/4           0%"));
        assert!(shown.contains("\rusers     [##########----------]         2/4          50%"));
        assert!(shown.contains("\rusers     [####################]         4/4         100%"));
        assert!(shown.contains("100% ") && shown.ends_with(" s\n"), "{shown:?}");
        assert_eq!(shown.matches('\n').count(), 2, "a line ends each table: {shown:?}");

        let mut log = Bar::new(Vec::new(), false);
        log.table("users", 3);
        log.advance(3);
        log.table("history", 0);
        log.done();
        let written = String::from_utf8(log.into_inner()).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 2, "{written:?}");
        assert!(lines[0].starts_with("users: 3 rows in ") && lines[1].starts_with("history: 0 rows in "));
        assert!(!written.contains('\r'), "no redrawing in a log");
    }

    #[test]
    fn an_upsert_binds_every_value_with_the_backends_placeholders() {
        assert_eq!(
            upsert_sql(true, "lettings_letting", Letting::COLUMNS, 2, Mode::Replace),
            "INSERT INTO lettings_letting (id, title, address_id) VALUES ($1, $2, $3), ($4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET title = excluded.title, address_id = excluded.address_id \
             WHERE lettings_letting.title IS DISTINCT FROM excluded.title \
             OR lettings_letting.address_id IS DISTINCT FROM excluded.address_id"
        );
        assert_eq!(
            upsert_sql(false, "profiles_profile", Profile::COLUMNS, 1, Mode::Merge),
            "INSERT INTO profiles_profile (id, favorite_city, user_id) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING"
        );
        // Every row binds one value per column, after its id.
        let letting = Letting {
            id: 1,
            title: "t".into(),
            address_id: 2,
        };
        assert_eq!(ImportRow::values(&letting).len(), Letting::COLUMNS.len());
        // The widest batch stays under SQLite's 32 766 parameters.
        assert!(BATCH as usize * (User::COLUMNS.len() + 1) < 32_766);
    }

    #[test]
    fn batches_walk_a_table_by_id_until_it_runs_out() {
        let rows: Vec<i32> = (1..=2_500).collect();
        let mut written = Vec::new();
        let total = each_batch(
            |after| Ok(rows.iter().copied().filter(|&id| id > after).take(1000).collect()),
            |batch: &[i32]| {
                written.push(batch.len());
                Ok(())
            },
            |id| *id,
            &mut Quiet,
        )
        .unwrap();
        assert_eq!(total, 2_500);
        assert_eq!(written, [1000, 1000, 500]);
    }
}
