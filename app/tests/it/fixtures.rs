//! `dumpdata` and `loaddata` in Django's JSON fixture format, on both backends: fixtures a
//! real Django 4.2 wrote (checked in, from the original's data, by
//! `app/tests/django_site/make_fixtures.py`) load with every row as `import-django` reads
//! it; what `dumpdata` writes is Django's output byte for byte; a round trip through a
//! real Django (when Python has it: CI installs it) gives the same rows; and a bad fixture
//! is one clear error with nothing written.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;
use oc_lettings::accounts::model::User;
use oc_lettings::admin::permissions;
use oc_lettings::db::schema::{
    auth_group, auth_group_permissions, auth_user, auth_user_groups, auth_user_user_permissions, django_admin_log,
    lettings_address, lettings_letting, profiles_profile,
};
use oc_lettings::db::DbConnection;
use oc_lettings::lettings::model::{Address, Letting};
use oc_lettings::manage::fixture::{self, Model};
use oc_lettings::manage::import::{import_django, Quiet};
use oc_lettings::profiles::model::Profile;

use crate::common::{django_fixture, prepared_database, Backend, TestDatabase};

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/django")
        .join(name)
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap()
}

/// A time as the fixture format carries it: to the millisecond.
fn ms(time: NaiveDateTime) -> NaiveDateTime {
    time.with_nanosecond(time.nanosecond() / 1_000_000 * 1_000_000).unwrap()
}

/// Every row of every table a fixture covers, in key order, times to the millisecond.
fn all_rows(conn: &mut DbConnection) -> Vec<String> {
    let mut rows = Vec::new();
    let users: Vec<User> = auth_user::table
        .order(auth_user::id)
        .select(User::as_select())
        .load(conn)
        .unwrap();
    rows.extend(users.into_iter().map(|u| {
        format!(
            "{:?}",
            User {
                last_login: u.last_login.map(ms),
                date_joined: ms(u.date_joined),
                ..u
            }
        )
    }));
    let addresses: Vec<Address> = lettings_address::table
        .order(lettings_address::id)
        .select(Address::as_select())
        .load(conn)
        .unwrap();
    rows.extend(addresses.iter().map(|a| format!("{a:?}")));
    let lettings: Vec<Letting> = lettings_letting::table
        .order(lettings_letting::id)
        .select(Letting::as_select())
        .load(conn)
        .unwrap();
    rows.extend(lettings.iter().map(|l| format!("{l:?}")));
    let profiles: Vec<Profile> = profiles_profile::table
        .order(profiles_profile::id)
        .select(Profile::as_select())
        .load(conn)
        .unwrap();
    rows.extend(profiles.iter().map(|p| format!("{p:?}")));
    type Log = (
        i32,
        NaiveDateTime,
        Option<i32>,
        String,
        String,
        Option<String>,
        String,
        i16,
        String,
    );
    let history: Vec<Log> = django_admin_log::table
        .order(django_admin_log::id)
        .select((
            django_admin_log::id,
            django_admin_log::action_time,
            django_admin_log::user_id,
            django_admin_log::username,
            django_admin_log::content_type,
            django_admin_log::object_id,
            django_admin_log::object_repr,
            django_admin_log::action_flag,
            django_admin_log::change_message,
        ))
        .load(conn)
        .unwrap();
    rows.extend(history.into_iter().map(|mut h| {
        h.1 = ms(h.1);
        format!("log {h:?}")
    }));
    let groups: Vec<(i32, String)> = auth_group::table
        .order(auth_group::id)
        .select((auth_group::id, auth_group::name))
        .load(conn)
        .unwrap();
    rows.extend(groups.iter().map(|g| format!("group {g:?}")));
    let grants: Vec<(i32, String)> = auth_group_permissions::table
        .order((auth_group_permissions::group_id, auth_group_permissions::permission))
        .select((auth_group_permissions::group_id, auth_group_permissions::permission))
        .load(conn)
        .unwrap();
    rows.extend(grants.iter().map(|g| format!("group grant {g:?}")));
    let members: Vec<(i32, i32)> = auth_user_groups::table
        .order((auth_user_groups::user_id, auth_user_groups::group_id))
        .select((auth_user_groups::user_id, auth_user_groups::group_id))
        .load(conn)
        .unwrap();
    rows.extend(members.iter().map(|m| format!("member {m:?}")));
    let user_grants: Vec<(i32, String)> = auth_user_user_permissions::table
        .order((
            auth_user_user_permissions::user_id,
            auth_user_user_permissions::permission,
        ))
        .select((
            auth_user_user_permissions::user_id,
            auth_user_user_permissions::permission,
        ))
        .load(conn)
        .unwrap();
    rows.extend(user_grants.iter().map(|g| format!("user grant {g:?}")));
    rows
}

/// The state the checked-in fixtures were made from: the refactored site's database with
/// a group "Editors" (the lettings permissions), DavWin in it and given
/// profiles.view_profile (as `make_fixtures.py` does in Django).
fn original_with_editors(backend: &Backend) -> (TestDatabase, oc_lettings::db::Database) {
    let (database, db) = prepared_database(backend, false);
    let source = django_fixture("oc-lettings-refactored.sqlite3", database.dir.path());
    let mut conn = db.get().unwrap();
    import_django(&source, &mut conn).unwrap();
    diesel::insert_into(auth_group::table)
        .values((auth_group::id.eq(1), auth_group::name.eq("Editors")))
        .execute(&mut *conn)
        .unwrap();
    let lettings: Vec<String> = ["add", "change", "delete", "view"]
        .iter()
        .flat_map(|verb| ["address", "letting"].map(|model| format!("lettings.{verb}_{model}")))
        .collect();
    permissions::set_for_group(&mut conn, 1, &lettings).unwrap();
    let davwin: i32 = auth_user::table
        .filter(auth_user::username.eq("DavWin"))
        .select(auth_user::id)
        .first(&mut *conn)
        .unwrap();
    permissions::set_groups(&mut conn, davwin, &[1]).unwrap();
    permissions::set_for_user(&mut conn, davwin, &["profiles.view_profile".to_owned()]).unwrap();
    drop(conn);
    (database, db)
}

fn load_file(
    conn: &mut DbConnection,
    path: &Path,
    dry_run: bool,
) -> Result<fixture::LoadReport, fixture::FixtureError> {
    let read = fixture::read(std::fs::File::open(path).unwrap())?;
    fixture::load(conn, read, &mut Quiet, dry_run)
}

fn dump_text(conn: &mut DbConnection, indent: Option<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    fixture::dump(conn, &mut out, indent, &Model::DUMPED).unwrap();
    out
}

fn djangos_fixtures_load_with_every_row(backend: Backend) {
    let (_source, source_db) = original_with_editors(&backend);
    let expected = all_rows(&mut source_db.get().unwrap());
    assert_eq!(expected.len(), 5 + 6 + 6 + 4 + 25 + 1 + 8 + 1 + 1, "{expected:?}");
    for name in [
        "dumpdata-natural.json",
        "dumpdata-natural-flat.json",
        "dumpdata-plain.json",
    ] {
        let (_database, db) = prepared_database(&backend, false);
        let mut conn = db.get().unwrap();
        let report = load_file(&mut conn, &fixture_path(name), false).unwrap();
        assert_eq!(report.import.changes.added, 46, "{name}: {report}");
        assert_eq!((report.import.groups, report.import.grants), (1, 9), "{name}: {report}");
        assert_eq!(all_rows(&mut conn), expected, "{name}");
        // Loading it again changes nothing, and says so.
        let again = load_file(&mut conn, &fixture_path(name), false).unwrap();
        assert_eq!(
            (again.import.changes.added, again.import.changes.updated),
            (0, 0),
            "{name}: {again}"
        );
    }
    // The original project's own `manage.py dumpdata` (its single app, ids everywhere).
    let (imported_db, imported) = prepared_database(&backend, false);
    let source = django_fixture("oc-lettings-site.sqlite3", imported_db.dir.path());
    let mut conn = imported.get().unwrap();
    import_django(&source, &mut conn).unwrap();
    let (_database, db) = prepared_database(&backend, false);
    let mut loaded = db.get().unwrap();
    let report = load_file(&mut loaded, &fixture_path("original-dumpdata.json"), false).unwrap();
    assert_eq!(
        report.djangos_own,
        36 + 9 + 1,
        "permissions, content types, the session: {report}"
    );
    assert_eq!(all_rows(&mut loaded), all_rows(&mut conn));
}

fn dumpdata_writes_what_djangos_dumpdata_writes(backend: Backend) {
    let (_database, db) = original_with_editors(&backend);
    let mut conn = db.get().unwrap();
    assert_eq!(
        String::from_utf8(dump_text(&mut conn, Some(2))).unwrap(),
        String::from_utf8(fixture_bytes("dumpdata-natural.json")).unwrap()
    );
    assert_eq!(dump_text(&mut conn, None), fixture_bytes("dumpdata-natural-flat.json"));
    // One app: only its models, in the same order.
    let mut out = Vec::new();
    let report = fixture::dump(&mut conn, &mut out, None, &[Model::Profile]).unwrap();
    assert_eq!(report.objects(), 4);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with(r#"[{"model": "profiles.profile", "pk": 1, "fields": {"user": ["HeadlinesGazer"]"#),
        "{text}"
    );
}

/// Python with Django, or why not (the test then says it skips, in one line).
fn django() -> Result<(), String> {
    match Command::new("python3")
        .args(["-c", "import django; print(django.VERSION[0])"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(_) => Err("python3 has no django (pip install 'django==4.2.*'; .ci/run does)".to_owned()),
        Err(err) => Err(format!("no python3 ({err})")),
    }
}

/// `manage.py ARGS` of the test site (the original's models), on the SQLite file `database`.
fn manage(database: &Path, args: &[&str]) -> String {
    let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/django_site");
    let out = Command::new("python3")
        .arg("manage.py")
        .args(args)
        .current_dir(site)
        .env("DJANGO_DATABASE", database)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "manage.py {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn a_round_trip_through_django_gives_the_same_rows(backend: Backend) {
    if let Err(why) = django() {
        eprintln!("SKIPPED: the round trip through a real Django: {why}");
        return;
    }
    let (work, db) = original_with_editors(&backend);
    let mut conn = db.get().unwrap();
    // Text a serializer could get wrong: quotes, escapes, non-ASCII, a control character.
    diesel::update(lettings_letting::table.find(1))
        .set(lettings_letting::title.eq("Château « Ünïcode » \"quoted\" \\ back\tslash 🏠"))
        .execute(&mut *conn)
        .unwrap();
    diesel::update(lettings_address::table.find(2))
        .set(lettings_address::city.eq("Zürich\u{2028}Nord"))
        .execute(&mut *conn)
        .unwrap();
    let ours = dump_text(&mut conn, Some(2));
    let ours_path = work.dir.path().join("ours.json");
    std::fs::write(&ours_path, &ours).unwrap();

    let django_db = work.dir.path().join("django.sqlite3");
    manage(&django_db, &["migrate", "-v", "0"]);
    let installed = manage(&django_db, &["loaddata", ours_path.to_str().unwrap()]);
    assert!(installed.contains("Installed 47 object(s)"), "{installed}");
    let theirs = manage(
        &django_db,
        &[
            "dumpdata",
            "--natural-foreign",
            "--natural-primary",
            "-e",
            "contenttypes",
            "-e",
            "auth.Permission",
            "-e",
            "sessions",
            "--indent",
            "2",
        ],
    );
    assert_eq!(
        theirs,
        String::from_utf8(ours.clone()).unwrap(),
        "Django's dump of our dump is our dump"
    );
    let theirs_path = work.dir.path().join("theirs.json");
    std::fs::write(&theirs_path, &theirs).unwrap();

    let (_first, first_db) = prepared_database(&backend, false);
    let mut first = first_db.get().unwrap();
    load_file(&mut first, &ours_path, false).unwrap();
    let (_second, second_db) = prepared_database(&backend, false);
    let mut second = second_db.get().unwrap();
    load_file(&mut second, &theirs_path, false).unwrap();
    let rows = all_rows(&mut second);
    assert_eq!(rows, all_rows(&mut first));
    assert_eq!(rows, all_rows(&mut conn), "the site's own rows, to the millisecond");
    assert_eq!(dump_text(&mut second, Some(2)), ours);
}

fn loading_over_a_site_saves_by_key_and_keeps_the_rest(backend: Backend) {
    // A site restored from the fixture (its times to the millisecond, as the fixture's).
    let (_database, db) = prepared_database(&backend, false);
    let mut conn = db.get().unwrap();
    load_file(&mut conn, &fixture_path("dumpdata-natural.json"), false).unwrap();
    let before = all_rows(&mut conn);
    // A staff edit, a row only this site has, and a deletion.
    diesel::update(lettings_letting::table.find(1))
        .set(lettings_letting::title.eq("Renamed since"))
        .execute(&mut *conn)
        .unwrap();
    diesel::insert_into(lettings_address::table)
        .values(Address {
            id: 100,
            number: 1,
            street: "New Street".into(),
            city: "Irvine".into(),
            state: "CA".into(),
            zip_code: 92602,
            country_iso_code: "USA".into(),
        })
        .execute(&mut *conn)
        .unwrap();
    diesel::delete(profiles_profile::table.find(1))
        .execute(&mut *conn)
        .unwrap();
    let edited = all_rows(&mut conn);

    let dry = load_file(&mut conn, &fixture_path("dumpdata-natural.json"), true).unwrap();
    assert_eq!((dry.import.changes.added, dry.import.changes.updated), (1, 1), "{dry}");
    assert_eq!(dry.import.changes.only_here, 1, "{dry}");
    assert_eq!(all_rows(&mut conn), edited, "a dry run changes nothing");

    let report = load_file(&mut conn, &fixture_path("dumpdata-natural.json"), false).unwrap();
    assert_eq!(
        (report.import.changes.added, report.import.changes.updated),
        (1, 1),
        "{report}"
    );
    let after = all_rows(&mut conn);
    let kept = after.iter().filter(|row| !before.contains(row)).collect::<Vec<_>>();
    assert_eq!(kept.len(), 1, "only the site's own address is extra: {kept:?}");
    assert!(kept[0].contains("New Street"), "{kept:?}");
    assert!(
        before.iter().all(|row| after.contains(row)),
        "every fixture row is back"
    );
}

/// Writes `text` as a fixture file in `dir`.
fn write_fixture(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn a_bad_fixture_is_one_error_and_writes_nothing(backend: Backend) {
    let (database, db) = original_with_editors(&backend);
    let mut conn = db.get().unwrap();
    let before = all_rows(&mut conn);
    let dir = database.dir.path();
    let good = String::from_utf8(fixture_bytes("dumpdata-natural-flat.json")).unwrap();
    let address = r#"{"model": "lettings.address", "pk": 50, "fields": {"number": 1, "street": "A", "city": "B", "state": "CA", "zip_code": 1, "country_iso_code": "USA"}}"#;
    let cases: Vec<(&str, String, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_owned(), "not a Django fixture"),
        (
            "not a list",
            r#"{"model": "lettings.address"}"#.to_owned(),
            "expected a list of objects",
        ),
        (
            "unknown model",
            format!(r#"[{address}, {{"model": "lettings.house", "pk": 1, "fields": {{}}}}]"#),
            "object 2 (lettings.house): unknown model",
        ),
        (
            "unknown field",
            r#"[{"model": "lettings.letting", "pk": 1, "fields": {"title": "x", "address": 1, "rooms": 3}}]"#
                .to_owned(),
            "has no field [\"rooms\"]",
        ),
        (
            "bad value",
            r#"[{"model": "lettings.address", "pk": 7, "fields": {"number": "seven", "street": "A"}}]"#.to_owned(),
            "object 1 (lettings.address pk 7): field number: expected an integer, found \"seven\"",
        ),
        (
            "no such user",
            format!(
                r#"[{address}, {{"model": "profiles.profile", "pk": 9, "fields": {{"user": ["nobody"], "favorite_city": "X"}}}}]"#
            ),
            "profile 9 refers to user \"nobody\", who is neither in the fixture nor in the site",
        ),
        (
            "no id left",
            r#"[{"model": "auth.group", "pk": 2147483647, "fields": {"name": "Top", "permissions": []}}, {"model": "auth.group", "fields": {"name": "Next", "permissions": []}}]"#.to_owned(),
            "no id left for \"Next\"",
        ),
        (
            "a broken constraint after good rows",
            format!(
                r#"[{address}, {{"model": "lettings.letting", "pk": 1, "fields": {{"title": "Twice", "address": 2}}}}]"#
            ),
            "letting",
        ),
    ];
    for (what, text, expected) in cases {
        let path = write_fixture(dir, "bad.json", &text);
        let err = match fixture::read(std::fs::File::open(&path).unwrap()) {
            Err(err) => err,
            Ok(read) => fixture::load(&mut conn, read, &mut Quiet, false).unwrap_err(),
        };
        let message = err.to_string();
        assert!(message.contains(expected), "{what}: {message}");
        assert!(!message.contains('\n'), "{what}: one line: {message}");
        assert_eq!(all_rows(&mut conn), before, "{what}: nothing written");
    }
}

on_both_backends!(sync:
    djangos_fixtures_load_with_every_row,
    dumpdata_writes_what_djangos_dumpdata_writes,
    a_round_trip_through_django_gives_the_same_rows,
    loading_over_a_site_saves_by_key_and_keeps_the_rest,
    a_bad_fixture_is_one_error_and_writes_nothing,
);
