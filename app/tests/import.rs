//! `import-django` on the original site's real databases (both layouts): every row
//! arrives with its id, password hashes byte for byte, a second run changes nothing, and
//! bad input is a one-line error with nothing written.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use oc_lettings::config::DatabaseUrl;
use oc_lettings::db::import::{import_django, ImportError, ImportReport};
use oc_lettings::db::{Database, DbConnection};
use oc_lettings::startup::prepare_database;

use common::django_fixture;

const ORIGINAL: &str = "oc-lettings-site.sqlite3";
const REFACTORED: &str = "oc-lettings-refactored.sqlite3";

fn target(dir: &Path, seed: bool) -> Database {
    let db = Database::new(&DatabaseUrl::Sqlite(dir.join("target.sqlite3")), 2).unwrap();
    prepare_database(&db, seed).unwrap();
    db
}

#[derive(QueryableByName, Debug, PartialEq, Eq, Clone)]
struct Row {
    #[diesel(sql_type = Text)]
    text: String,
}

/// Every row of a table as one line of text, in id order (the comparison is on values).
fn dump(conn: &mut SqliteConnection, table: &str, columns: &str) -> Vec<String> {
    diesel::sql_query(format!(
        "SELECT {} AS text FROM {table} ORDER BY id",
        columns
            .split(", ")
            .map(|c| format!("coalesce(CAST({c} AS TEXT), 'NULL')"))
            .collect::<Vec<_>>()
            .join(" || '|' || ")
    ))
    .load::<Row>(conn)
    .unwrap()
    .into_iter()
    .map(|r| r.text)
    .collect()
}

const USER_COLUMNS: &str =
    "id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined";
const ADDRESS_COLUMNS: &str = "id, number, street, city, state, zip_code, country_iso_code";

/// The site's four tables, in a comparable form.
fn dump_site(conn: &mut DbConnection) -> [Vec<String>; 4] {
    [
        dump(conn, "auth_user", "id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active"),
        dump(conn, "lettings_address", ADDRESS_COLUMNS),
        dump(conn, "lettings_letting", "id, title, address_id"),
        dump(conn, "profiles_profile", "id, favorite_city, user_id"),
    ]
}

fn source_tables(name: &str) -> [&'static str; 3] {
    if name == ORIGINAL {
        [
            "oc_lettings_site_address",
            "oc_lettings_site_letting",
            "oc_lettings_site_profile",
        ]
    } else {
        ["lettings_address", "lettings_letting", "profiles_profile"]
    }
}

fn check_full_import(fixture: &str) {
    let dir = tempfile::tempdir().unwrap();
    let source = django_fixture(fixture, dir.path());
    let db = target(dir.path(), false);
    let mut conn = db.get().unwrap();

    let report = import_django(&source, &mut conn).unwrap();
    assert_eq!(
        report,
        ImportReport {
            users: 5,
            addresses: 6,
            lettings: 6,
            profiles: 4
        }
    );

    // Every row equals its source row, ids and password hashes included.
    let mut django = SqliteConnection::establish(source.to_str().unwrap()).unwrap();
    let [address_table, letting_table, profile_table] = source_tables(fixture);
    let imported = dump_site(&mut conn);
    assert_eq!(
        imported[0],
        dump(&mut django, "auth_user", "id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active")
    );
    assert_eq!(
        imported[1],
        dump(&mut django, address_table, ADDRESS_COLUMNS)
    );
    assert_eq!(
        imported[2],
        dump(&mut django, letting_table, "id, title, address_id")
    );
    assert_eq!(
        imported[3],
        dump(&mut django, profile_table, "id, favorite_city, user_id")
    );

    // Timestamps survive too.
    let users = dump(&mut conn, "auth_user", "id, last_login, date_joined");
    assert!(
        users[0].starts_with("1|2020-06-14 09:41:56.975174|2020-06-14 09:41:15.326411"),
        "{}",
        users[0]
    );
    assert_eq!(users[1], "2|NULL|2020-06-14 09:44:05");

    // A spot check against the documented data, byte for byte.
    assert_eq!(
        imported[0][0],
        "1|pbkdf2_sha256$180000$p35UH2yYInHF$4LTphT2basUmvfLq+XHETVvKONZrWUsLfKu1K8/Hqdk=|1|admin|||admin@email.com|1|1"
    );
    assert_eq!(imported[3][0], "1|Buenos Aires|5");

    // A second run changes nothing.
    let again = import_django(&source, &mut conn).unwrap();
    assert_eq!(again, report);
    assert_eq!(dump_site(&mut conn), imported);
    assert_eq!(dump(&mut conn, "auth_user", USER_COLUMNS).len(), 5);
}

#[test]
fn imports_the_original_layout() {
    check_full_import(ORIGINAL);
}

#[test]
fn imports_the_refactored_layout() {
    check_full_import(REFACTORED);
}

#[test]
fn imports_over_the_demo_data() {
    let dir = tempfile::tempdir().unwrap();
    let source = django_fixture(ORIGINAL, dir.path());
    let db = target(dir.path(), true);
    let mut conn = db.get().unwrap();
    import_django(&source, &mut conn).unwrap();
    let [users, addresses, lettings, profiles] = dump_site(&mut conn);
    assert_eq!(
        (users.len(), addresses.len(), lettings.len(), profiles.len()),
        (5, 6, 6, 4)
    );
    assert!(users.iter().any(|u| u.contains("|admin|")));
}

fn assert_nothing_written(conn: &mut DbConnection) {
    assert_eq!(
        dump_site(conn),
        [Vec::<String>::new(), vec![], vec![], vec![]]
    );
}

#[test]
fn a_missing_file_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = target(dir.path(), false);
    let mut conn = db.get().unwrap();
    let err = import_django(&dir.path().join("nope.sqlite3"), &mut conn).unwrap_err();
    assert!(matches!(err, ImportError::Missing(_)), "{err}");
    assert!(
        err.to_string().ends_with("nope.sqlite3: no such file"),
        "{err}"
    );
    assert!(
        !dir.path().join("nope.sqlite3").exists(),
        "the import must not create its source"
    );
    assert_nothing_written(&mut conn);
}

#[test]
fn a_file_that_is_not_sqlite_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("notes.sqlite3");
    std::fs::write(
        &bogus,
        "this is not a database, just text that is long enough ".repeat(40),
    )
    .unwrap();
    let db = target(dir.path(), false);
    let mut conn = db.get().unwrap();
    let err = import_django(&bogus, &mut conn).unwrap_err();
    assert!(matches!(err, ImportError::NotSqlite { .. }), "{err}");
    assert!(
        err.to_string().contains("not a readable SQLite database"),
        "{err}"
    );
    assert_nothing_written(&mut conn);
}

#[test]
fn a_sqlite_file_of_another_app_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.sqlite3");
    let mut conn = SqliteConnection::establish(other.to_str().unwrap()).unwrap();
    diesel::sql_query("CREATE TABLE auth_user (id INTEGER PRIMARY KEY)")
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    let db = target(dir.path(), false);
    let mut conn = db.get().unwrap();
    let err = import_django(&other, &mut conn).unwrap_err();
    assert!(matches!(err, ImportError::NotDjango(_)), "{err}");
    assert_nothing_written(&mut conn);
}

#[test]
fn a_row_that_breaks_a_constraint_aborts_the_whole_import() {
    let dir = tempfile::tempdir().unwrap();
    let source = django_fixture(REFACTORED, dir.path());
    let mut django = SqliteConnection::establish(source.to_str().unwrap()).unwrap();
    // Django's forms enforce two letters; a hand-edited database may not.
    diesel::sql_query("UPDATE lettings_address SET state = 'Georgia' WHERE id = 4")
        .execute(&mut django)
        .unwrap();
    drop(django);
    let db = target(dir.path(), false);
    let mut conn = db.get().unwrap();
    let err = import_django(&source, &mut conn).unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::Row {
                table: "address",
                id: 4,
                ..
            }
        ),
        "the error names the row: {err}"
    );
    assert!(err.to_string().contains("nothing was imported"));
    assert_nothing_written(&mut conn);
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Integer)]
    n: i32,
}

#[test]
fn the_command_imports_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let source = django_fixture(ORIGINAL, dir.path());
    let output = Command::new(env!("CARGO_BIN_EXE_oc-lettings"))
        .current_dir(dir.path())
        .env("DATABASE_URL", "sqlite://site.sqlite3")
        .arg("import-django")
        .arg(&source)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("5 users, 6 addresses, 6 lettings, 4 profiles"),
        "{stdout}"
    );
    let mut conn =
        SqliteConnection::establish(dir.path().join("site.sqlite3").to_str().unwrap()).unwrap();
    let count: Count = diesel::sql_query("SELECT count(*) AS n FROM lettings_letting")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(count.n, 6);
}

#[test]
fn the_command_fails_with_one_line_on_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_oc-lettings"))
        .current_dir(dir.path())
        .env("DATABASE_URL", "sqlite://site.sqlite3")
        .args(["import-django", "missing.sqlite3"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: missing.sqlite3: no such file"),
        "{stderr}"
    );
}
