//! The schema holds the model constraints itself; migrations are idempotent and safe when
//! two instances start at once; demo data goes only into an empty database.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Barrier};

use diesel::prelude::*;
use oc_lettings::db::{Database, DbConnection};
use oc_lettings::startup::{prepare_database, PreparedDatabase};

use crate::common::{with_params, Backend, TestDatabase};

fn fresh(backend: &Backend) -> (TestDatabase, Database) {
    let database = TestDatabase::new(backend);
    let db = Database::new(&database.url, 2).unwrap();
    (database, db)
}

/// The migrations shipped for each backend: the same names, in the same order.
fn migration_count() -> usize {
    let names = |backend: &str| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let sqlite = names("sqlite");
    assert_eq!(sqlite, names("postgres"), "both backends have the same migrations");
    sqlite.len()
}

fn exec(conn: &mut DbConnection, sql: &str) -> QueryResult<usize> {
    diesel::sql_query(sql).execute(conn)
}

fn migrations_run_once_and_seed_only_an_empty_database(backend: Backend) {
    let (_database, db) = fresh(&backend);
    assert_eq!(
        prepare_database(&db, true).unwrap(),
        PreparedDatabase {
            migrations_applied: migration_count(),
            seeded: true
        }
    );
    assert_eq!(
        prepare_database(&db, true).unwrap(),
        PreparedDatabase {
            migrations_applied: 0,
            seeded: false
        }
    );

    let (_database, db) = fresh(&backend);
    assert_eq!(
        prepare_database(&db, false).unwrap(),
        PreparedDatabase {
            migrations_applied: migration_count(),
            seeded: false
        }
    );
    let mut conn = db.get().unwrap();
    assert!(oc_lettings::manage::seed::is_empty(&mut conn).unwrap());
}

fn two_instances_starting_together_do_not_race(backend: Backend) {
    let database = TestDatabase::new(&backend);
    let url = database.url.clone();
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let db = Database::new(&url, 1).unwrap();
                barrier.wait();
                prepare_database(&db, true)
            })
        })
        .collect();
    let results: Vec<PreparedDatabase> = handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
    assert_eq!(
        results.iter().map(|r| r.migrations_applied).sum::<usize>(),
        migration_count(),
        "{results:?}"
    );
    assert_eq!(results.iter().filter(|r| r.seeded).count(), 1, "{results:?}");
}

fn the_schema_enforces_the_model_constraints(backend: Backend) {
    let (_database, db) = fresh(&backend);
    prepare_database(&db, false).unwrap();
    let mut conn = db.get().unwrap();
    let address = |number: &str, street: &str, state: &str, zip: &str, country: &str| {
        format!(
            "INSERT INTO lettings_address (number, street, city, state, zip_code, country_iso_code) \
             VALUES ({number}, '{street}', 'City', '{state}', {zip}, '{country}')"
        )
    };
    exec(&mut conn, &address("9999", "Street", "GA", "99999", "USA")).unwrap();
    exec(&mut conn, &address("0", "Street", "ga", "0", "usa")).unwrap();
    let long_street = "s".repeat(65);
    for bad in [
        address("10000", "Street", "GA", "1", "USA"),
        address("-1", "Street", "GA", "1", "USA"),
        address("1", "", "GA", "1", "USA"),
        address("1", &long_street, "GA", "1", "USA"),
        address("1", "Street", "G", "1", "USA"),
        address("1", "Street", "GAA", "1", "USA"),
        address("1", "Street", "G1", "1", "USA"),
        address("1", "Street", "GA", "100000", "USA"),
        address("1", "Street", "GA", "-5", "USA"),
        address("1", "Street", "GA", "1", "US"),
        address("1", "Street", "GA", "1", "U5A"),
        address("'twelve'", "Street", "GA", "1", "USA"),
    ] {
        assert!(exec(&mut conn, &bad).is_err(), "accepted: {bad}");
    }

    exec(
        &mut conn,
        "INSERT INTO lettings_letting (title, address_id) VALUES ('A home', 1)",
    )
    .unwrap();
    let long_title = format!(
        "INSERT INTO lettings_letting (title, address_id) VALUES ('{}', 2)",
        "t".repeat(257)
    );
    for bad in [
        "INSERT INTO lettings_letting (title, address_id) VALUES ('Same address', 1)",
        "INSERT INTO lettings_letting (title, address_id) VALUES ('No address', 99)",
        "INSERT INTO lettings_letting (title, address_id) VALUES ('', 2)",
        long_title.as_str(),
    ] {
        assert!(exec(&mut conn, bad).is_err(), "accepted: {bad}");
    }

    let user = |id: i32, name: &str| {
        format!("INSERT INTO auth_user (id, password, username, date_joined) VALUES ({id}, '!', '{name}', '2024-01-01 00:00:00')")
    };
    exec(&mut conn, &user(1, "alice")).unwrap();
    assert!(exec(&mut conn, &user(2, "alice")).is_err(), "duplicate username");
    assert!(exec(&mut conn, &user(3, "")).is_err(), "empty username");
    assert!(
        exec(&mut conn, &user(4, &"u".repeat(151))).is_err(),
        "username over 150"
    );
    exec(
        &mut conn,
        "INSERT INTO profiles_profile (favorite_city, user_id) VALUES ('', 1)",
    )
    .unwrap();
    assert!(exec(
        &mut conn,
        "INSERT INTO profiles_profile (favorite_city, user_id) VALUES ('Paris', 1)"
    )
    .is_err());
    assert!(exec(
        &mut conn,
        "INSERT INTO profiles_profile (favorite_city, user_id) VALUES ('Paris', 42)"
    )
    .is_err());
    let long_city = format!(
        "INSERT INTO profiles_profile (favorite_city, user_id) VALUES ('{}', 1)",
        "c".repeat(65)
    );
    assert!(exec(&mut conn, &long_city).is_err());

    // Deleting an address deletes its letting; deleting a user deletes their profile.
    exec(&mut conn, "DELETE FROM lettings_address WHERE id = 1").unwrap();
    let lettings: i64 = oc_lettings::db::schema::lettings_letting::table
        .count()
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!(lettings, 0);
    exec(&mut conn, "DELETE FROM auth_user WHERE id = 1").unwrap();
    let profiles: i64 = oc_lettings::db::schema::profiles_profile::table
        .count()
        .get_result(&mut *conn)
        .unwrap();
    assert_eq!(profiles, 0);
}

/// A page's read gets its answer whether or not a connection is free at once: with the
/// pool's only connection held, the read waits for it (on the blocking pool, on either
/// backend) instead of failing or blocking the caller's thread; with it free, it runs.
fn a_read_waits_for_a_busy_pool_and_runs_on_a_free_one(backend: Backend) {
    actix_web::rt::System::new().block_on(read_waits_for_a_busy_pool(backend));
}

async fn read_waits_for_a_busy_pool(backend: Backend) {
    let database = TestDatabase::new(&backend);
    let db = Database::new(&database.url, 1).unwrap();
    let one = |conn: &mut DbConnection| -> Result<i64, oc_lettings::db::DbError> {
        #[derive(QueryableByName)]
        struct One {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            one: i64,
        }
        let rows: Vec<One> = diesel::sql_query("SELECT CAST(1 AS BIGINT) AS one").load(conn)?;
        Ok(rows.first().map_or(0, |row| row.one))
    };
    assert_eq!(db.read(one).await.unwrap(), 1, "a free connection");
    let held = db.get().unwrap();
    let reader = db.clone();
    let pending = actix_web::rt::spawn(async move { reader.read(one).await });
    actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !pending.is_finished(),
        "the read waits while the only connection is held"
    );
    drop(held);
    assert_eq!(pending.await.unwrap().unwrap(), 1, "and runs once it is back");
}

/// With MIGRATE_ON_START off (a release phase migrates), `serve`'s start changes no
/// schema, seeds nothing into an incomplete one, and says what is missing; after
/// `migrate` it finds the schema complete and seeds an empty database.
fn serving_without_migrating_leaves_the_schema_to_the_release_phase(backend: Backend) {
    let (_database, db) = fresh(&backend);
    let (prepared, status) = oc_lettings::startup::prepare_for_serving(&db, true, false).unwrap();
    assert_eq!(
        prepared,
        PreparedDatabase {
            migrations_applied: 0,
            seeded: false
        }
    );
    assert_eq!(status.pending.len(), migration_count(), "{status:?}");
    assert!(status.unknown.is_empty());
    {
        let mut conn = db.get().unwrap();
        assert!(
            exec(&mut conn, "SELECT COUNT(*) FROM lettings_letting").is_err(),
            "no table was made"
        );
        oc_lettings::db::migrations::run_pending(&mut conn).unwrap();
    }
    let (prepared, status) = oc_lettings::startup::prepare_for_serving(&db, true, false).unwrap();
    assert_eq!(
        prepared,
        PreparedDatabase {
            migrations_applied: 0,
            seeded: true
        }
    );
    assert_eq!(status, Default::default());
}

/// Reverts migrations, newest first, until `version` is reverted too (each down
/// migration runs for real); the versions reverted, in order.
fn revert_through(conn: &mut DbConnection, version: &str) -> Vec<String> {
    use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
    const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
    const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
    let mut reverted: Vec<String> = Vec::new();
    while reverted.last().map(String::as_str) != Some(version) {
        reverted.push(match &mut *conn {
            DbConnection::Sqlite(c) => c.revert_last_migration(SQLITE).unwrap().to_string(),
            DbConnection::Postgresql(c) => c.revert_last_migration(POSTGRES).unwrap().to_string(),
        });
        assert!(reverted.len() <= 12, "{version} was never reverted: {reverted:?}");
    }
    reverted
}

/// The permissions migration on a site that had staff before it: each staff member who is
/// no superuser keeps managing addresses, lettings and profiles (no one is locked out by
/// the upgrade); superusers need nothing; users who are not staff get nothing.
fn staff_keep_what_they_had_across_the_permissions_migration(backend: Backend) {
    use oc_lettings::admin::model::registry;
    use oc_lettings::admin::permissions::{self, Action};
    use oc_lettings::db::schema::auth_user;

    let (_database, db) = fresh(&backend);
    prepare_database(&db, false).unwrap();
    let mut conn = db.get().unwrap();
    // Back to before the permissions migration (the ones after it reverted too: their
    // down migrations work).
    let reverted = revert_through(&mut conn, "20261126000003");
    let user = |conn: &mut DbConnection, name: &str, staff: bool, superuser: bool| -> i32 {
        diesel::insert_into(auth_user::table)
            .values((
                auth_user::username.eq(name),
                auth_user::password.eq("!"),
                auth_user::is_staff.eq(staff),
                auth_user::is_superuser.eq(superuser),
                auth_user::date_joined.eq(chrono::Utc::now().naive_utc()),
            ))
            .returning(auth_user::id)
            .get_result(conn)
            .unwrap()
    };
    let staff = user(&mut conn, "staff", true, false);
    let boss = user(&mut conn, "boss", true, true);
    let visitor = user(&mut conn, "visitor", false, false);
    drop(conn);
    assert_eq!(prepare_database(&db, false).unwrap().migrations_applied, reverted.len());

    let mut conn = db.get().unwrap();
    let kept = permissions::load(&mut conn, staff).unwrap();
    for model in registry() {
        let meta = model.meta();
        for action in Action::ALL {
            assert_eq!(kept.may(meta, action), !meta.superuser_only, "{} {action:?}", meta.name);
        }
    }
    assert_eq!(permissions::of_user(&mut conn, staff).unwrap().len(), 12);
    assert!(permissions::of_user(&mut conn, boss).unwrap().is_empty());
    assert!(permissions::of_user(&mut conn, visitor).unwrap().is_empty());
}

/// The migration that lets history outlive its authors (issue 28), on a site with
/// history: every entry keeps its author and gains their username; deleting the user
/// afterwards keeps the entries (their user becomes NULL), where before it took them.
fn history_keeps_its_authors_across_the_migration_and_outlives_them(backend: Backend) {
    let (_database, db) = fresh(&backend);
    prepare_database(&db, false).unwrap();
    let mut conn = db.get().unwrap();
    let reverted = revert_through(&mut conn, "20261203000002");
    let now = "2026-12-01 10:00:00";
    exec(&mut conn, &format!(
        "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) \
         VALUES (41, '!', false, 'ed', '', '', '', true, true, '{now}')"
    ))
    .unwrap();
    for _ in 1..=3 {
        exec(&mut conn, &format!(
            "INSERT INTO django_admin_log (action_time, user_id, content_type, object_id, object_repr, action_flag, change_message) \
             VALUES ('{now}', 41, 'lettings.letting', '1', 'Joshua Tree', 2, '[]')"
        ))
        .unwrap();
    }
    drop(conn);
    assert_eq!(prepare_database(&db, false).unwrap().migrations_applied, reverted.len());

    use oc_lettings::db::schema::{auth_user, django_admin_log};
    let mut conn = db.get().unwrap();
    let authors = || {
        django_admin_log::table
            .order(django_admin_log::id)
            .select((django_admin_log::user_id, django_admin_log::username))
    };
    let rows: Vec<(Option<i32>, String)> = authors().load(&mut *conn).unwrap();
    assert_eq!(rows, vec![(Some(41), "ed".to_owned()); 3]);
    diesel::delete(auth_user::table.find(41)).execute(&mut *conn).unwrap();
    let rows: Vec<(Option<i32>, String)> = authors().load(&mut *conn).unwrap();
    assert_eq!(
        rows,
        vec![(None, "ed".to_owned()); 3],
        "the entries outlive their author"
    );
    // New entries get new ids after the kept ones.
    exec(
        &mut conn,
        &format!(
        "INSERT INTO django_admin_log (action_time, content_type, object_repr, action_flag, change_message, username) \
         VALUES ('{now}', 'lettings.letting', 'x', 1, '', 'someone')"
    ),
    )
    .unwrap();
    let ids: Vec<i32> = django_admin_log::table
        .order(django_admin_log::id)
        .select(django_admin_log::id)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(ids, vec![1, 2, 3, 4]);
}

on_both_backends!(sync:
    history_keeps_its_authors_across_the_migration_and_outlives_them,
    staff_keep_what_they_had_across_the_permissions_migration,
    serving_without_migrating_leaves_the_schema_to_the_release_phase,
    a_read_waits_for_a_busy_pool_and_runs_on_a_free_one,
    migrations_run_once_and_seed_only_an_empty_database,
    two_instances_starting_together_do_not_race,
    the_schema_enforces_the_model_constraints,
);

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    ssl: bool,
}

/// Whether the pooled connection to `url` runs over TLS.
fn connection_uses_tls(url: &str) -> Result<bool, String> {
    let url = oc_lettings::config::DatabaseUrl::parse(url).unwrap();
    let db = Database::with_acquire_timeout(&url, 1, std::time::Duration::from_secs(2)).unwrap();
    let mut conn = db.get().map_err(|err| err.to_string())?;
    let row: Ssl = diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result(&mut *conn)
        .map_err(|err| err.to_string())?;
    Ok(row.ssl)
}

/// `sslmode=require` gets an encrypted session; `sslmode=verify-full` checks the server's
/// certificate and name against `sslrootcert` (CI provides a test CA in
/// TEST_DATABASE_TLS_ROOTCERT) and refuses a server it cannot verify.
#[test]
fn postgres_connections_use_tls_when_the_url_asks() {
    let Some(Backend::Postgres(admin)) = Backend::postgres() else {
        return;
    };
    match connection_uses_tls(&with_params(&admin, "sslmode=require")) {
        Ok(ssl) => assert!(ssl, "sslmode=require must give a TLS session"),
        Err(err) if err.contains("does not support SSL") => {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"\nSKIPPED: PostgreSQL TLS test (the test server has no TLS)\n",
            );
            return;
        }
        Err(err) => panic!("sslmode=require failed: {err}"),
    }
    assert!(!connection_uses_tls(&with_params(&admin, "sslmode=disable")).unwrap());

    let Ok(root) = std::env::var("TEST_DATABASE_TLS_ROOTCERT") else {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"\nSKIPPED: PostgreSQL verify-full test (TEST_DATABASE_TLS_ROOTCERT is not set)\n",
        );
        return;
    };
    let by_name = admin.replacen("@127.0.0.1:", "@localhost:", 1);
    let verified = with_params(&by_name, &format!("sslmode=verify-full&sslrootcert={root}"));
    assert!(
        connection_uses_tls(&verified).unwrap(),
        "verify-full against the test CA"
    );

    // A root that did not sign the server's certificate: refused, with the reason.
    let stranger = tempfile::tempdir().unwrap();
    let stranger_root = crate::common::stranger_ca(stranger.path());
    let refused = with_params(
        &by_name,
        &format!("sslmode=verify-full&sslrootcert={}", stranger_root.display()),
    );
    let err = connection_uses_tls(&refused).unwrap_err();
    assert!(err.contains("certificate"), "{err}");
}

/// A pooled PostgreSQL connection drives its own runtime from whichever thread queries it.
/// Called from inside an async task (a handler that forgot `run`, a test's body), where
/// no runtime may be driven, it still answers: never tokio's "cannot start a runtime from
/// within a runtime" panic, nor its panic when a runtime is dropped there (a failed
/// connect). The site itself queries on blocking threads only.
#[test]
fn postgres_connections_work_from_inside_an_async_task() {
    let Some(Backend::Postgres(admin)) = Backend::postgres() else {
        return;
    };
    actix_web::rt::System::new().block_on(async {
        let url = oc_lettings::config::DatabaseUrl::parse(&admin).unwrap();
        let db = Database::new(&url, 1).unwrap();
        let mut conn = db.get().unwrap();
        let rows: Vec<i32> = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1 + 1"))
            .load(&mut *conn)
            .unwrap();
        assert_eq!(rows, [2]);
        drop(conn);
        // And through `run`, the site's own way, on the same pool.
        let rows = db
            .run(|conn| Ok(diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("2 + 2")).load::<i32>(conn)?))
            .await
            .unwrap();
        assert_eq!(rows, [4]);
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = oc_lettings::db::connection::establish_postgres(&format!(
            "postgres://nobody:pw@127.0.0.1:{closed}/none?sslmode=disable"
        ))
        .err()
        .unwrap();
        assert!(err.to_string().contains("cannot connect to the database"), "{err}");
    });
}

/// A connection that fails says its cause once, and whether trying again can help: a
/// wrong password or a missing database is permanent (fix the setting), a refused
/// connection transient (what was tried is said). The password never shows.
#[test]
fn connection_failures_say_permanent_or_transient() {
    let Some(Backend::Postgres(admin)) = Backend::postgres() else {
        return;
    };
    // postgres://user:password@host:port/database?params, taken apart by hand.
    let (credentials, place) = admin.split_once('@').unwrap();
    let user = credentials.trim_start_matches("postgres://").split(':').next().unwrap();
    let (server, path) = place.split_once('/').unwrap();
    let query = path.split_once('?').map_or(String::new(), |(_, q)| format!("?{q}"));
    let open = |raw: &str| {
        oc_lettings::db::connection::establish_postgres(raw)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let line = open(&format!("postgres://{user}:not-the-password-9876@{place}"));
    assert!(
        line.contains("the server refused user")
            && line.contains("(permanent: check the user and password in DATABASE_URL)"),
        "{line}"
    );
    assert!(!line.contains("not-the-password-9876"), "{line}");
    let line = open(&format!("{credentials}@{server}/no_such_database_here{query}"));
    assert!(
        line.contains("database \"no_such_database_here\" does not exist (permanent"),
        "{line}"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let line = open(&format!(
        "postgres://nobody:secret-pw@127.0.0.1:{closed}/none?sslmode=disable"
    ));
    assert!(
        line.contains(&format!(
            "at 127.0.0.1:{closed}: the connection was refused (transient: tried once"
        )),
        "{line}"
    );
    assert!(!line.contains("secret-pw"), "{line}");
}
