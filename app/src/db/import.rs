//! `oc-lettings import-django PATH`: copies a Django site's users (with their password
//! hashes), addresses, lettings and profiles into our database, keeping their ids.
//! Reads both layouts of the original (`oc_lettings_site_*`, and the refactored
//! `lettings_*` / `profiles_*`). One transaction: on any error nothing is written.
//! Idempotent: rows are upserted by id, so a second run changes nothing.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, SmallInt, Text, Timestamp};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::migrations::sync_id_sequences;
use super::schema::{auth_group, auth_user, django_admin_log, lettings_address, lettings_letting, profiles_profile};
use super::{DbConnection, DbError};
use crate::accounts::model::User;
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
    #[error("import failed, nothing was imported: {0}")]
    Database(#[from] DbError),
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
    pub user_id: i32,
    pub content_type: String,
    pub object_id: Option<String>,
    pub object_repr: String,
    pub action_flag: i16,
    pub change_message: String,
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

/// The Django site's admin history, when it has one (oldest first).
fn read_history(path: &Path, conn: &mut SqliteConnection) -> Result<Vec<LogEntry>, ImportError> {
    if !table_names(path, conn)?.iter().any(|n| n == "django_admin_log") {
        return Ok(Vec::new());
    }
    let rows: Vec<LogRow> = diesel::sql_query(
        "SELECT l.id, l.action_time, l.user_id, COALESCE(ct.app_label, '') AS app_label, \
         COALESCE(ct.model, '') AS model, l.object_id, l.object_repr, l.action_flag, l.change_message \
         FROM django_admin_log l LEFT JOIN django_content_type ct ON ct.id = l.content_type_id ORDER BY l.id",
    )
    .load(conn)
    .map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        table: "django_admin_log",
        source,
    })?;
    Ok(rows
        .into_iter()
        .map(|r| LogEntry {
            id: r.id,
            action_time: r.action_time,
            user_id: r.user_id,
            content_type: content_type(&r.app_label, &r.model),
            object_id: r.object_id,
            object_repr: r.object_repr.chars().take(200).collect(),
            action_flag: r.action_flag,
            change_message: r.change_message,
        })
        .collect())
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

fn read_table<Row>(
    path: &Path,
    conn: &mut SqliteConnection,
    table: &'static str,
    columns: &str,
) -> Result<Vec<Row>, ImportError>
where
    Row: QueryableByName<diesel::sqlite::Sqlite> + 'static,
{
    // `table` comes from `Layout::tables`, never from input.
    diesel::sql_query(format!("SELECT {columns} FROM \"{table}\" ORDER BY id"))
        .load(conn)
        .map_err(|source| ImportError::Read {
            path: path.to_path_buf(),
            table,
            source,
        })
}

/// Reads every row the site needs from a Django database file.
pub fn read_django(path: &Path) -> Result<DjangoData, ImportError> {
    let mut conn = open_read_only(path)?;
    let layout = detect_layout(path, &mut conn)?;
    let [address_table, letting_table, profile_table] = layout.tables();
    let users: Vec<UserRow> = read_table(
        path,
        &mut conn,
        "auth_user",
        "id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined",
    )?;
    let addresses: Vec<AddressRow> = read_table(
        path,
        &mut conn,
        address_table,
        "id, number, street, city, state, zip_code, country_iso_code",
    )?;
    let lettings: Vec<LettingRow> = read_table(path, &mut conn, letting_table, "id, title, address_id")?;
    let profiles: Vec<ProfileRow> = read_table(path, &mut conn, profile_table, "id, favorite_city, user_id")?;
    let history = read_history(path, &mut conn)?;
    let access = read_access(path, &mut conn)?;
    Ok(DjangoData {
        layout: Some(layout),
        users: users
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
            .collect(),
        addresses: addresses
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
            .collect(),
        lettings: lettings
            .into_iter()
            .map(|l| Letting {
                id: l.id,
                title: l.title,
                address_id: l.address_id,
            })
            .collect(),
        profiles: profiles
            .into_iter()
            .map(|p| Profile {
                id: p.id,
                favorite_city: p.favorite_city,
                user_id: p.user_id,
            })
            .collect(),
        history,
        access,
    })
}

fn row_error(table: &'static str, id: i32) -> impl FnOnce(diesel::result::Error) -> ImportError {
    move |source| ImportError::Row { table, id, source }
}

/// Updates the row with `$row.id`, or inserts it when there is none (the same on both
/// backends, and without `RETURNING`, which diesel's multi-backend connection lacks).
macro_rules! upsert_by_id {
    ($conn:expr, $table:path, $row:expr, $label:literal) => {{
        let row = $row;
        let updated = diesel::update($table.find(row.id))
            .set(row)
            .execute($conn)
            .map_err(row_error($label, row.id))?;
        if updated == 0 {
            diesel::insert_into($table)
                .values(row)
                .execute($conn)
                .map_err(row_error($label, row.id))?;
        }
    }};
}

/// Writes `data` into `conn` in one transaction, upserting by id.
pub fn write_django(data: &DjangoData, conn: &mut DbConnection) -> Result<ImportReport, ImportError> {
    conn.transaction(|conn| {
        for user in &data.users {
            upsert_by_id!(conn, auth_user::table, user, "auth_user");
        }
        for address in &data.addresses {
            upsert_by_id!(conn, lettings_address::table, address, "address");
        }
        for letting in &data.lettings {
            upsert_by_id!(conn, lettings_letting::table, letting, "letting");
        }
        for profile in &data.profiles {
            upsert_by_id!(conn, profiles_profile::table, profile, "profile");
        }
        for entry in &data.history {
            upsert_by_id!(conn, django_admin_log::table, entry, "django_admin_log");
        }
        write_access(&data.access, &data.users, conn)?;
        sync_id_sequences(conn)?;
        Ok(ImportReport {
            users: data.users.len(),
            addresses: data.addresses.len(),
            lettings: data.lettings.len(),
            profiles: data.profiles.len(),
            history: data.history.len(),
            groups: data.access.groups.len(),
            grants: data.access.group_permissions.len() + data.access.user_permissions.len(),
            skipped_grants: data.access.skipped,
        })
    })
}

/// Writes the groups (upserted by id) and gives each imported user and group exactly the
/// memberships and permissions it had (so a second run changes nothing).
fn write_access(access: &Access, users: &[User], conn: &mut DbConnection) -> Result<(), ImportError> {
    use crate::admin::permissions;
    for (id, name) in &access.groups {
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
    let of = |owner: i32, grants: &[(i32, String)]| -> Vec<String> {
        grants
            .iter()
            .filter(|(o, _)| *o == owner)
            .map(|(_, p)| p.clone())
            .collect()
    };
    for (id, _) in &access.groups {
        permissions::set_for_group(conn, *id, &of(*id, &access.group_permissions))?;
    }
    for user in users {
        permissions::set_for_user(conn, user.id, &of(user.id, &access.user_permissions))?;
        let groups: Vec<i32> = access
            .memberships
            .iter()
            .filter(|(u, _)| *u == user.id)
            .map(|(_, g)| *g)
            .collect();
        permissions::set_groups(conn, user.id, &groups).map_err(|err| match err {
            DbError::Query(source) => ImportError::Row {
                table: "auth_user_groups",
                id: user.id,
                source,
            },
            other => ImportError::Database(other),
        })?;
    }
    Ok(())
}

/// Reads the Django database at `path` and writes it into `conn`.
pub fn import_django(path: &Path, conn: &mut DbConnection) -> Result<ImportReport, ImportError> {
    let data = read_django(path)?;
    write_django(&data, conn)
}

impl From<diesel::result::Error> for ImportError {
    fn from(err: diesel::result::Error) -> Self {
        ImportError::Database(DbError::Query(err))
    }
}
