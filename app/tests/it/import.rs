//! `import-django` on the original site's real databases (both layouts), into either
//! backend: every row arrives with its id, password hashes byte for byte, a second run
//! changes nothing, and bad input is a one-line error with nothing written.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::Text;
use oc_lettings::accounts::model::User;
use oc_lettings::db::schema::{auth_user, lettings_address, lettings_letting, profiles_profile};
use oc_lettings::db::DbConnection;
use oc_lettings::lettings::model::{Address, Letting};
use oc_lettings::manage::import::{import_django, read_django, Changes, DjangoData, ImportError, ImportReport};
use oc_lettings::profiles::model::Profile;

use crate::common::{django_fixture, prepared_database, Backend, TestDatabase};

const ORIGINAL: &str = "oc-lettings-site.sqlite3";
const REFACTORED: &str = "oc-lettings-refactored.sqlite3";

type SiteRows = (Vec<User>, Vec<Address>, Vec<Letting>, Vec<Profile>);

/// Everything the site holds, in id order.
fn site_rows(conn: &mut DbConnection) -> SiteRows {
    (
        auth_user::table
            .order(auth_user::id)
            .select(User::as_select())
            .load(conn)
            .unwrap(),
        lettings_address::table
            .order(lettings_address::id)
            .select(Address::as_select())
            .load(conn)
            .unwrap(),
        lettings_letting::table
            .order(lettings_letting::id)
            .select(Letting::as_select())
            .load(conn)
            .unwrap(),
        profiles_profile::table
            .order(profiles_profile::id)
            .select(Profile::as_select())
            .load(conn)
            .unwrap(),
    )
}

fn as_rows(data: DjangoData) -> SiteRows {
    (data.users, data.addresses, data.lettings, data.profiles)
}

fn check_full_import(backend: &Backend, fixture: &str) {
    let (database, db) = prepared_database(backend, false);
    let source = django_fixture(fixture, database.dir.path());
    let mut conn = db.get().unwrap();

    let report = import_django(&source, &mut conn).unwrap();
    assert_eq!(
        report,
        ImportReport {
            users: 5,
            addresses: 6,
            lettings: 6,
            profiles: 4,
            history: 25,
            groups: 0,
            grants: 0,
            skipped_grants: 0,
            changes: Changes {
                added: 46,
                updated: 0,
                only_here: 0,
            },
        }
    );

    let imported = site_rows(&mut conn);
    assert_eq!(imported, as_rows(read_django(&source).unwrap()), "every row, as read");

    // Spot checks against the documented data: hashes byte for byte, timestamps exact.
    let admin = &imported.0[0];
    assert_eq!(admin.username, "admin");
    assert_eq!(
        admin.password,
        "pbkdf2_sha256$180000$p35UH2yYInHF$4LTphT2basUmvfLq+XHETVvKONZrWUsLfKu1K8/Hqdk="
    );
    assert!(admin.is_superuser && admin.is_staff && admin.is_active);
    let day = NaiveDate::from_ymd_opt(2020, 6, 14).unwrap();
    assert_eq!(
        admin.last_login,
        Some(day.and_hms_micro_opt(9, 41, 56, 975_174).unwrap())
    );
    assert_eq!(admin.date_joined, day.and_hms_micro_opt(9, 41, 15, 326_411).unwrap());
    let gazer = imported.0.iter().find(|u| u.username == "HeadlinesGazer").unwrap();
    assert_eq!(gazer.id, 5);
    assert_eq!(gazer.last_login, None);
    assert_eq!(
        imported.3[0],
        Profile {
            id: 1,
            favorite_city: "Buenos Aires".into(),
            user_id: 5
        }
    );
    assert_eq!(
        imported.2[4].title,
        "The Mushroom Dome Retreat & LAND of Paradise Suite"
    );

    // A second run changes nothing, and says so.
    let again = import_django(&source, &mut conn).unwrap();
    assert_eq!(again.changes, Changes::default(), "{again}");
    assert_eq!((again.users, again.lettings, again.history), (5, 6, 25));
    assert_eq!(site_rows(&mut conn), imported);

    // New rows get fresh ids after the imported ones (PostgreSQL sequences moved on).
    diesel::insert_into(lettings_address::table)
        .values((
            lettings_address::number.eq(1),
            lettings_address::street.eq("New Street"),
            lettings_address::city.eq("Irvine"),
            lettings_address::state.eq("CA"),
            lettings_address::zip_code.eq(92602),
            lettings_address::country_iso_code.eq("USA"),
        ))
        .execute(&mut *conn)
        .unwrap();
    let max: Option<i32> = lettings_address::table
        .select(diesel::dsl::max(lettings_address::id))
        .first(&mut *conn)
        .unwrap();
    assert_eq!(max, Some(7));
}

fn imports_the_original_layout(backend: Backend) {
    check_full_import(&backend, ORIGINAL);
}

fn imports_the_refactored_layout(backend: Backend) {
    check_full_import(&backend, REFACTORED);
}

fn imports_over_the_demo_data(backend: Backend) {
    let (database, db) = prepared_database(&backend, true);
    let source = django_fixture(ORIGINAL, database.dir.path());
    let mut conn = db.get().unwrap();
    import_django(&source, &mut conn).unwrap();
    let (users, addresses, lettings, profiles) = site_rows(&mut conn);
    assert_eq!(
        (users.len(), addresses.len(), lettings.len(), profiles.len()),
        (5, 6, 6, 4)
    );
    // The demo users' unusable passwords were replaced by the imported hashes.
    assert!(users.iter().all(|u| u.password.starts_with("pbkdf2_sha256$")));
}

fn assert_nothing_written(conn: &mut DbConnection) {
    assert_eq!(site_rows(conn), (vec![], vec![], vec![], vec![]));
}

fn a_missing_file_is_an_error_and_writes_nothing(backend: Backend) {
    let (database, db) = prepared_database(&backend, false);
    let mut conn = db.get().unwrap();
    let missing = database.dir.path().join("nope.sqlite3");
    let err = import_django(&missing, &mut conn).unwrap_err();
    assert!(matches!(err, ImportError::Missing(_)), "{err}");
    assert!(err.to_string().ends_with("nope.sqlite3: no such file"), "{err}");
    assert!(!missing.exists(), "the import must not create its source");
    assert_nothing_written(&mut conn);
}

fn a_file_that_is_not_sqlite_is_an_error(backend: Backend) {
    let (database, db) = prepared_database(&backend, false);
    let bogus = database.dir.path().join("notes.sqlite3");
    std::fs::write(
        &bogus,
        "this is not a database, just text that is long enough ".repeat(40),
    )
    .unwrap();
    let mut conn = db.get().unwrap();
    let err = import_django(&bogus, &mut conn).unwrap_err();
    assert!(matches!(err, ImportError::NotSqlite { .. }), "{err}");
    assert!(err.to_string().contains("not a readable SQLite database"), "{err}");
    assert_nothing_written(&mut conn);
}

fn a_sqlite_file_of_another_app_is_an_error(backend: Backend) {
    let (database, db) = prepared_database(&backend, false);
    let other = database.dir.path().join("other.sqlite3");
    let mut sqlite = SqliteConnection::establish(other.to_str().unwrap()).unwrap();
    diesel::sql_query("CREATE TABLE auth_user (id INTEGER PRIMARY KEY)")
        .execute(&mut sqlite)
        .unwrap();
    drop(sqlite);
    let mut conn = db.get().unwrap();
    let err = import_django(&other, &mut conn).unwrap_err();
    assert!(matches!(err, ImportError::NotDjango(_)), "{err}");
    assert_nothing_written(&mut conn);
}

fn a_row_that_breaks_a_constraint_aborts_the_whole_import(backend: Backend) {
    let (database, db) = prepared_database(&backend, false);
    let source = django_fixture(REFACTORED, database.dir.path());
    let mut django = SqliteConnection::establish(source.to_str().unwrap()).unwrap();
    // Django's forms enforce two letters; a hand-edited database may not.
    diesel::sql_query("UPDATE lettings_address SET state = 'Georgia' WHERE id = 4")
        .execute(&mut django)
        .unwrap();
    drop(django);
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

fn the_command_imports_and_reports(backend: Backend) {
    let database = TestDatabase::new(&backend);
    let source = django_fixture(ORIGINAL, database.dir.path());
    let output = Command::new(env!("CARGO_BIN_EXE_oc-lettings"))
        .current_dir(database.dir.path())
        .env("DATABASE_URL", database.url_string())
        .arg("import-django")
        .arg(&source)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("5 users, 6 addresses, 6 lettings, 4 profiles, 25 history entries"),
        "{stdout}"
    );
    assert!(!stdout.contains("@"), "no credentials in the report: {stdout}");
    let db = oc_lettings::db::Database::new(&database.url, 1).unwrap();
    let lettings: i64 = lettings_letting::table
        .count()
        .get_result(&mut *db.get().unwrap())
        .unwrap();
    assert_eq!(lettings, 6);
}

/// Into a site that holds data, the command asks how: it refuses with what it would add
/// and overwrite; `--dry-run` counts and changes nothing; `--merge` keeps a staff edit and
/// brings back only what is missing; `--replace` overwrites the edit.
fn a_second_import_asks_how_and_merge_keeps_staff_edits(backend: Backend) {
    let database = TestDatabase::new(&backend);
    let source = django_fixture(ORIGINAL, database.dir.path());
    let import = |flags: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_oc-lettings"))
            .current_dir(database.dir.path())
            .env("DATABASE_URL", database.url_string())
            .arg("import-django")
            .args(flags)
            .arg(&source)
            .output()
            .unwrap()
    };
    let first = import(&[]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains("46 rows added, 0 updated"));
    // Unchanged since: nothing to do, and it says so.
    let same = import(&[]);
    assert!(same.status.success());
    assert!(
        String::from_utf8_lossy(&same.stdout).contains("nothing to import"),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );

    // A staff edit and a deletion since the first import.
    let db = oc_lettings::db::Database::new(&database.url, 1).unwrap();
    let title = |conn: &mut oc_lettings::db::DbConnection| -> String {
        lettings_letting::table
            .find(1)
            .select(lettings_letting::title)
            .first(conn)
            .unwrap()
    };
    {
        let mut conn = db.get().unwrap();
        diesel::update(lettings_letting::table.find(1))
            .set(lettings_letting::title.eq("Edited by staff"))
            .execute(&mut *conn)
            .unwrap();
        diesel::delete(lettings_letting::table.find(6))
            .execute(&mut *conn)
            .unwrap();
    }
    let refused = import(&[]);
    assert!(!refused.status.success());
    let line = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        line.contains("already holds data")
            && line.contains("would add 1 rows and overwrite 1")
            && line.contains("--merge"),
        "{line}"
    );
    assert_eq!(line.trim().lines().count(), 1, "{line}");
    assert_eq!(
        title(&mut db.get().unwrap()),
        "Edited by staff",
        "the refusal changed nothing"
    );

    let dry = import(&["--dry-run"]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("1 row added, 1 updated; nothing was changed"));
    assert_eq!(title(&mut db.get().unwrap()), "Edited by staff");
    assert_eq!(
        lettings_letting::table
            .count()
            .get_result::<i64>(&mut *db.get().unwrap())
            .unwrap(),
        5
    );

    let merged = import(&["--merge"]);
    assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
    assert!(String::from_utf8_lossy(&merged.stdout).contains("1 row added, 0 updated"));
    assert_eq!(
        title(&mut db.get().unwrap()),
        "Edited by staff",
        "--merge keeps the edit"
    );
    assert_eq!(
        lettings_letting::table
            .count()
            .get_result::<i64>(&mut *db.get().unwrap())
            .unwrap(),
        6
    );

    let replaced = import(&["--replace"]);
    assert!(replaced.status.success());
    assert!(String::from_utf8_lossy(&replaced.stdout).contains("0 rows added, 1 updated"));
    assert_ne!(
        title(&mut db.get().unwrap()),
        "Edited by staff",
        "--replace overwrites it"
    );
}

/// Django's groups, memberships and grants, by permission id: the original's permissions
/// (ids 9–12 letting, 1–4 address, 5–8 profile) and Django's own (26 auth.change_user,
/// 16 admin.view_logentry).
fn with_access(source: &std::path::Path) {
    use diesel::connection::SimpleConnection;
    let mut django = SqliteConnection::establish(source.to_str().unwrap()).unwrap();
    django
        .batch_execute(
            "INSERT INTO auth_group (id, name) VALUES (3, 'Editors'), (4, 'Readers');
             INSERT INTO auth_group_permissions (group_id, permission_id) VALUES (3, 12), (3, 10), (3, 26), (4, 8);
             INSERT INTO auth_user_groups (user_id, group_id) VALUES (2, 3), (3, 4);
             INSERT INTO auth_user_user_permissions (user_id, permission_id) VALUES (3, 4), (3, 16);",
        )
        .unwrap();
}

fn groups_and_permissions_come_over_by_codename(backend: Backend) {
    use diesel::connection::SimpleConnection;
    use oc_lettings::admin::model::find;
    use oc_lettings::admin::permissions::{self, Action};

    let (database, db) = prepared_database(&backend, false);
    let source = django_fixture(ORIGINAL, database.dir.path());
    with_access(&source);
    let mut conn = db.get().unwrap();
    let report = import_django(&source, &mut conn).unwrap();
    assert_eq!((report.groups, report.grants, report.skipped_grants), (2, 4, 2));
    assert!(report
        .to_string()
        .contains("2 groups, 4 permission grants (2 grants of Django's own permissions left out"));

    assert_eq!(
        permissions::of_group(&mut conn, 3).unwrap(),
        ["lettings.change_letting", "lettings.view_letting"]
    );
    assert_eq!(permissions::of_group(&mut conn, 4).unwrap(), ["profiles.view_profile"]);
    assert_eq!(permissions::groups_of(&mut conn, 2).unwrap(), [3]);
    assert_eq!(permissions::of_user(&mut conn, 3).unwrap(), ["lettings.view_address"]);
    let letting = find("lettings", "letting").unwrap().meta();
    let address = find("lettings", "address").unwrap().meta();
    let profile = find("profiles", "profile").unwrap().meta();
    let two = permissions::load(&mut conn, 2).unwrap();
    assert!(two.may(letting, Action::Change) && !two.may(letting, Action::Delete));
    let three = permissions::load(&mut conn, 3).unwrap();
    assert!(three.may_view(address) && three.may_view(profile) && !three.may_view(letting));
    assert!(
        !three.may_see(find("auth", "user").unwrap().meta()),
        "auth.change_user is not carried over"
    );

    // A second run changes nothing; a grant taken away in Django is taken away here too.
    let again = import_django(&source, &mut conn).unwrap();
    assert_eq!(
        (again.groups, again.grants, again.changes),
        (report.groups, report.grants, Changes::default())
    );
    assert_eq!(permissions::of_group(&mut conn, 3).unwrap().len(), 2);
    let mut django = SqliteConnection::establish(source.to_str().unwrap()).unwrap();
    django
        .batch_execute("DELETE FROM auth_user_groups WHERE user_id = 2; DELETE FROM auth_user_user_permissions;")
        .unwrap();
    import_django(&source, &mut conn).unwrap();
    assert!(permissions::groups_of(&mut conn, 2).unwrap().is_empty());
    assert!(permissions::of_user(&mut conn, 3).unwrap().is_empty());
}

on_both_backends!(sync:
    groups_and_permissions_come_over_by_codename,
    imports_the_original_layout,
    imports_the_refactored_layout,
    imports_over_the_demo_data,
    a_missing_file_is_an_error_and_writes_nothing,
    a_file_that_is_not_sqlite_is_an_error,
    a_sqlite_file_of_another_app_is_an_error,
    a_row_that_breaks_a_constraint_aborts_the_whole_import,
    the_command_imports_and_reports,
    a_second_import_asks_how_and_merge_keeps_staff_edits,
);

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// The source's rows as text, read with plain SQL (independently of the importer).
fn raw_rows(conn: &mut SqliteConnection, table: &str, columns: &[&str]) -> Vec<String> {
    let joined = columns
        .iter()
        .map(|c| format!("coalesce(CAST({c} AS TEXT), 'NULL')"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    diesel::sql_query(format!("SELECT {joined} AS line FROM {table} ORDER BY id"))
        .load::<Line>(conn)
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect()
}

#[test]
fn the_reader_sees_exactly_the_source_rows() {
    for (fixture, prefix) in [(ORIGINAL, "oc_lettings_site_"), (REFACTORED, "")] {
        let dir = tempfile::tempdir().unwrap();
        let source = django_fixture(fixture, dir.path());
        let data = read_django(&source).unwrap();
        let mut raw = SqliteConnection::establish(source.to_str().unwrap()).unwrap();
        let table = |name: &str, refactored: &str| {
            if prefix.is_empty() {
                refactored.to_owned()
            } else {
                format!("{prefix}{name}")
            }
        };
        let flag = |b: bool| if b { "1" } else { "0" };
        let users: Vec<String> = data
            .users
            .iter()
            .map(|u| {
                format!(
                    "{}|{}|{}|{}|{}|{}|{}|{}",
                    u.id,
                    u.password,
                    flag(u.is_superuser),
                    u.username,
                    u.first_name,
                    u.last_name,
                    u.email,
                    flag(u.is_staff)
                )
            })
            .collect();
        let columns = [
            "id",
            "password",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
        ];
        assert_eq!(users, raw_rows(&mut raw, "auth_user", &columns), "{fixture}");
        let addresses: Vec<String> = data
            .addresses
            .iter()
            .map(|a| {
                format!(
                    "{}|{}|{}|{}|{}|{}|{}",
                    a.id, a.number, a.street, a.city, a.state, a.zip_code, a.country_iso_code
                )
            })
            .collect();
        let columns = [
            "id",
            "number",
            "street",
            "city",
            "state",
            "zip_code",
            "country_iso_code",
        ];
        assert_eq!(
            addresses,
            raw_rows(&mut raw, &table("address", "lettings_address"), &columns)
        );
        let lettings: Vec<String> = data
            .lettings
            .iter()
            .map(|l| format!("{}|{}|{}", l.id, l.title, l.address_id))
            .collect();
        assert_eq!(
            lettings,
            raw_rows(
                &mut raw,
                &table("letting", "lettings_letting"),
                &["id", "title", "address_id"]
            )
        );
        let profiles: Vec<String> = data
            .profiles
            .iter()
            .map(|p| format!("{}|{}|{}", p.id, p.favorite_city, p.user_id))
            .collect();
        assert_eq!(
            profiles,
            raw_rows(
                &mut raw,
                &table("profile", "profiles_profile"),
                &["id", "favorite_city", "user_id"]
            )
        );
    }
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
    assert!(stderr.starts_with("error: missing.sqlite3: no such file"), "{stderr}");
}
