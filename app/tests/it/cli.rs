//! The `oc-lettings` binary as a user runs it: commands, configuration errors (one line,
//! non-zero exit), and `serve` answering real requests then stopping cleanly on SIGTERM.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Backend, TestDatabase};

fn oc_lettings(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_oc-lettings"));
    command
        .current_dir(dir)
        .args(args)
        .env("DATABASE_URL", "sqlite://site.sqlite3");
    for var in [
        "PORT",
        "HOST",
        "DEBUG",
        "SECRET_KEY",
        "SEED_DEMO",
        "LOG_FORMAT",
        "WEB_CONCURRENCY",
        "DATABASE_POOL_SIZE",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one line, got: {stderr}");
    stderr
}

#[test]
fn migrate_applies_then_has_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let first = oc_lettings(dir.path(), &[], &["migrate"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains(" migration(s) applied") && !stdout.contains(": 0 migration"),
        "{stdout}"
    );
    let second = oc_lettings(dir.path(), &[], &["migrate"]);
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 migration(s) applied"));
}

#[test]
fn a_malformed_setting_is_named_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = one_line_error(&oc_lettings(dir.path(), &[("PORT", "eighty")], &["migrate"]));
    assert!(stderr.starts_with("error: setting PORT is invalid"), "{stderr}");
    let stderr = one_line_error(&oc_lettings(
        dir.path(),
        &[("DATABASE_URL", "mysql://db/x")],
        &["migrate"],
    ));
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

/// libpq is not in the build: what only libpq would read is refused in one line before any
/// connection is tried (not silently ignored, which could drop a TLS requirement), and the
/// line never holds the URL's password.
#[test]
fn what_only_libpq_would_read_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (env, says) in [
        (
            vec![("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db?sslcert=/c.crt")],
            "DATABASE_URL sets sslcert, which oc-lettings does not support",
        ),
        (
            vec![("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db?sslmode=allow")],
            "sslmode=allow",
        ),
        (
            vec![
                ("DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/db"),
                ("PGSERVICE", "prod"),
            ],
            "PGSERVICE is set, but only DATABASE_URL is read",
        ),
    ] {
        for command in [&["migrate"][..], &["serve"][..]] {
            let mut env = env.clone();
            env.push((
                "SECRET_KEY",
                "a-test-secret-key-that-is-long-enough-for-the-check-0123456789",
            ));
            let stderr = one_line_error(&oc_lettings(dir.path(), &env, command));
            assert!(stderr.contains(says), "{command:?} {env:?}: {stderr}");
            assert!(!stderr.contains("hunter2"), "{stderr}");
            assert_eq!(stderr.matches(says).count(), 1, "said once: {stderr}");
        }
    }
}

#[test]
fn settings_are_read_from_dot_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "LOG_FORMAT=yaml\n").unwrap();
    let stderr = one_line_error(&oc_lettings(dir.path(), &[], &["migrate"]));
    assert!(stderr.contains("LOG_FORMAT"), "{stderr}");
}

#[test]
fn serving_without_a_secret_key_is_refused_unless_debug() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = one_line_error(&oc_lettings(dir.path(), &[], &["serve"]));
    assert!(stderr.contains("SECRET_KEY"), "{stderr}");
}

#[test]
fn a_missing_database_directory_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = oc_lettings(
        dir.path(),
        &[("DATABASE_URL", "sqlite://no/such/dir/site.sqlite3")],
        &["migrate"],
    );
    let stderr = one_line_error(&output);
    assert!(
        stderr.contains("no/such/dir") && stderr.contains("does not exist"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_command_fails() {
    let dir = tempfile::tempdir().unwrap();
    let output = oc_lettings(dir.path(), &[], &["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
}

/// Starts `oc-lettings serve` on a free port; returns the child and its base URL.
fn start_server(dir: &std::path::Path, database_url: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oc-lettings"))
        .current_dir(dir)
        .env("DATABASE_URL", database_url)
        .env("PORT", "0")
        .env("DEBUG", "true")
        .env("WEB_CONCURRENCY", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("the server logs its address").unwrap();
        if let Some((_, rest)) = line.split_once("listening on ") {
            break rest.trim().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
}

/// SIGTERM, then waits: the server must exit 0 within Heroku's 30 s.
fn stop_server(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "still running 30 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
}

/// Every page of the site, with a line of its content.
const PAGES: [(&str, &str); 5] = [
    ("/", "Welcome to Holiday Homes"),
    ("/lettings/", "Oceanview Retreat"),
    ("/lettings/1/", "7217 Bedford Street"),
    ("/profiles/", "HeadlinesGazer"),
    ("/profiles/HeadlinesGazer/", "Buenos Aires"),
];

fn assert_every_page(address: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for (path, content) in PAGES {
            let response = crate::common::client()
                .get(format!("{address}{path}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200, "GET {path}");
            assert!(
                response.text().await.unwrap().contains(content),
                "GET {path} shows {content}"
            );
        }
    });
}

#[test]
fn serve_seeds_answers_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address) = start_server(dir.path(), "sqlite://site.sqlite3");
    assert_every_page(&address);
    assert!(dir.path().join("site.sqlite3").exists());
    stop_server(child);
}

#[test]
fn serve_on_postgres_serves_every_page() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let database = TestDatabase::new(&backend);
    let (child, address) = start_server(database.dir.path(), &database.url_string());
    assert_every_page(&address);
    stop_server(child);
}

fn createsuperuser(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str], stdin: &str) -> Output {
    oc_command(dir, env, "createsuperuser", args, stdin)
}

/// `oc-lettings COMMAND ARGS` on the SQLite file in `dir`, `stdin` piped in.
fn oc_command(dir: &std::path::Path, env: &[(&str, &str)], name: &str, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_oc-lettings"));
    command
        .current_dir(dir)
        .env("DATABASE_URL", "sqlite://site.sqlite3")
        .env_remove("DJANGO_SUPERUSER_PASSWORD")
        .env_remove("DJANGO_SUPERUSER_USERNAME")
        .env_remove("DJANGO_SUPERUSER_EMAIL")
        .envs(env.iter().copied())
        .arg(name)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// (is_superuser, is_staff, is_active, password hash) of a user in the site's database.
fn stored_user_exists(dir: &std::path::Path, username: &str) -> bool {
    use diesel::prelude::*;
    use oc_lettings::db::schema::auth_user;
    let url = oc_lettings::config::DatabaseUrl::Sqlite(dir.join("site.sqlite3"));
    let db = oc_lettings::db::Database::new(&url, 1).unwrap();
    auth_user::table
        .filter(auth_user::username.eq(username))
        .count()
        .get_result::<i64>(&mut *db.get().unwrap())
        .unwrap()
        > 0
}

fn stored_user(dir: &std::path::Path, username: &str) -> (bool, bool, bool, String) {
    use diesel::prelude::*;
    use oc_lettings::db::schema::auth_user;
    let url = oc_lettings::config::DatabaseUrl::Sqlite(dir.join("site.sqlite3"));
    let db = oc_lettings::db::Database::new(&url, 1).unwrap();
    auth_user::table
        .filter(auth_user::username.eq(username))
        .select((
            auth_user::is_superuser,
            auth_user::is_staff,
            auth_user::is_active,
            auth_user::password,
        ))
        .first(&mut *db.get().unwrap())
        .unwrap()
}

#[test]
fn createsuperuser_without_prompts_for_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--no-input", "--username", "boss", "--email", "boss@example.com"];
    let output = createsuperuser(
        dir.path(),
        &[("DJANGO_SUPERUSER_PASSWORD", "a long passphrase")],
        &args,
        "",
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Superuser boss created.\n");
    let (superuser, staff, active, hash) = stored_user(dir.path(), "boss");
    assert!(superuser && staff && active);
    assert!(hash.starts_with("argon2$argon2id$"));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("a long passphrase"));

    let again = createsuperuser(
        dir.path(),
        &[("DJANGO_SUPERUSER_PASSWORD", "a long passphrase")],
        &args,
        "",
    );
    let stderr = one_line_error(&again);
    assert!(stderr.contains("That username is already taken."), "{stderr}");

    let missing = createsuperuser(dir.path(), &[], &["--no-input", "--username", "x"], "");
    assert!(one_line_error(&missing).contains("DJANGO_SUPERUSER_PASSWORD"));
    let weak = createsuperuser(
        dir.path(),
        &[("DJANGO_SUPERUSER_PASSWORD", "1234")],
        &["--no-input", "--username", "y"],
        "",
    );
    assert!(one_line_error(&weak).contains("too short"));
}

#[test]
fn createsuperuser_asks_what_it_is_not_told() {
    let dir = tempfile::tempdir().unwrap();
    let output = createsuperuser(
        dir.path(),
        &[],
        &[],
        "alice\nalice@example.com\nsecret passphrase\nsecret passphrase\n",
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let prompts = String::from_utf8_lossy(&output.stderr);
    assert!(
        prompts.contains("Username: ") && prompts.contains("Password (again): "),
        "{prompts}"
    );
    assert!(stored_user(dir.path(), "alice").0);

    let output = createsuperuser(dir.path(), &[], &[], "bob\n\nsecret passphrase\nanother passphrase\n");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Your passwords didn't match."));
    let output = createsuperuser(dir.path(), &[], &[], "");
    assert!(!output.status.success(), "stdin closed");
}

/// As Django's command: a refused answer is asked again, a weak password is named rule
/// by rule and may be kept on purpose, and no internal field name reaches the person.
#[test]
fn createsuperuser_asks_again_and_offers_to_bypass_the_password_rules() {
    let dir = tempfile::tempdir().unwrap();
    let first = createsuperuser(
        dir.path(),
        &[("DJANGO_SUPERUSER_PASSWORD", "a long passphrase")],
        &["--no-input", "--username", "alice"],
        "",
    );
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));

    let answers = "alice\nbob\nnot-an-email\nbob@example.com\none passphrase\nother passphrase\n\n\n1234\n1234\nn\nsecret passphrase\nsecret passphrase\n";
    let output = createsuperuser(dir.path(), &[], &[], answers);
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{said}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Superuser bob created.\n");
    for expected in [
        "Error: That username is already taken.",
        "Error: Enter a valid email address.",
        "Error: Your passwords didn't match.",
        "Error: Blank passwords aren't allowed.",
        "This password is too short.",
        "Bypass password validation and create user anyway? [y/N]: ",
    ] {
        assert!(said.contains(expected), "{expected:?} in {said}");
    }
    assert_eq!(said.matches("Username: ").count(), 2, "{said}");
    assert!(!said.contains("password1") && !said.contains("Error: Error:"), "{said}");
    assert!(!said.contains("secret passphrase"), "the password is never echoed back");
    assert!(stored_user(dir.path(), "bob").0);

    // "y" keeps the weak password, on purpose.
    let output = createsuperuser(dir.path(), &[], &[], "carol\n\n1234\n1234\ny\n");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stored_user(dir.path(), "carol").0);

    // A refused value given as a flag is an error, not a question; so is a closed stdin.
    let output = createsuperuser(dir.path(), &[], &["--username", "bob"], "");
    assert!(one_line_error(&output).contains("That username is already taken."));
    let output = createsuperuser(dir.path(), &[], &[], "dave\n\n1234\n1234\n");
    assert!(!output.status.success(), "stdin closed at the bypass question");
    let said = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        said.trim_end().lines().last().is_some_and(|l| l.contains("no answer")),
        "{said}"
    );
    assert!(!stored_user_exists(dir.path(), "dave"));

    // --no-input: the rules' messages, no field names.
    let weak = createsuperuser(
        dir.path(),
        &[("DJANGO_SUPERUSER_PASSWORD", "1234")],
        &["--no-input", "--username", "erin"],
        "",
    );
    let line = one_line_error(&weak);
    assert!(line.contains("too short") && !line.contains("password1"), "{line}");
}

#[test]
fn changepassword_asks_twice_validates_and_gives_up_after_three_tries() {
    let dir = tempfile::tempdir().unwrap();
    let made = createsuperuser(
        dir.path(),
        &[("DJANGO_SUPERUSER_PASSWORD", "a long passphrase")],
        &["--no-input", "--username", "alice", "--email", "alice@example.com"],
        "",
    );
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let before = stored_user(dir.path(), "alice").3;

    let output = oc_command(
        dir.path(),
        &[],
        "changepassword",
        &["alice"],
        "one passphrase\nanother passphrase\npassword123\npassword123\na brand new passphrase\na brand new passphrase\n",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "Changing password for user 'alice'\nPasswords do not match. Please try again.\nThis password is too common.\nPassword changed successfully for user 'alice'\n"
    );
    assert!(
        stderr.contains("Password: ") && stderr.contains("Password (again): "),
        "{stderr}"
    );
    assert!(
        !stdout.contains("brand new") && !stderr.contains("brand new"),
        "never echoed"
    );
    let after = stored_user(dir.path(), "alice").3;
    assert_ne!(after, before);
    assert!(matches!(
        oc_lettings::accounts::password::verify_password("a brand new passphrase", &after),
        oc_lettings::accounts::password::Verification::Match { .. }
    ));

    // Three bad tries: nothing changes, one error line, exit 1.
    let output = oc_command(dir.path(), &[], "changepassword", &["alice"], "a\nb\nc\nd\ne\nf\n");
    assert!(one_line_error(&output).contains("Aborting password change for user 'alice' after 3 attempts"));
    assert_eq!(stored_user(dir.path(), "alice").3, after);
    let output = oc_command(dir.path(), &[], "changepassword", &["nobody"], "");
    assert!(one_line_error(&output).contains("user 'nobody' does not exist"));
}

/// `reset-two-factor USERNAME` (a superuser who lost their phone): the key and codes go,
/// the user's sessions end, the history records it; an unknown user is one error line.
#[test]
fn reset_two_factor_takes_the_second_factor_away_and_says_so() {
    use diesel::prelude::*;
    use oc_lettings::db::schema::{admin_session, django_admin_log};
    let dir = tempfile::tempdir().unwrap();
    let made = createsuperuser(
        dir.path(),
        &[("DJANGO_SUPERUSER_PASSWORD", "a long passphrase")],
        &["--no-input", "--username", "alice", "--email", "alice@example.com"],
        "",
    );
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let url = oc_lettings::config::DatabaseUrl::Sqlite(dir.path().join("site.sqlite3"));
    let db = oc_lettings::db::Database::new(&url, 1).unwrap();
    let id: i32 = oc_lettings::db::schema::auth_user::table
        .select(oc_lettings::db::schema::auth_user::id)
        .first(&mut *db.get().unwrap())
        .unwrap();
    {
        let mut conn = db.get().unwrap();
        let secret = oc_lettings::accounts::totp::new_secret().unwrap();
        assert!(oc_lettings::accounts::two_factor::start(&mut conn, id, &secret).unwrap());
        let step = oc_lettings::accounts::totp::step_at(chrono::Utc::now().timestamp());
        let code = oc_lettings::accounts::totp::code_at(&secret, step).unwrap();
        let codes = oc_lettings::accounts::totp::new_recovery_codes(10).unwrap();
        assert!(oc_lettings::accounts::two_factor::confirm(&mut conn, id, &code, step, &codes).unwrap());
        oc_lettings::admin::session::create(&mut conn, id, "a-session-token", "csrf").unwrap();
    }

    let output = oc_command(dir.path(), &[], "reset-two-factor", &["alice"], "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("Two-factor authentication reset for user 'alice'; their sessions have ended."),
        "{stdout}"
    );
    let mut conn = db.get().unwrap();
    assert!(!oc_lettings::accounts::two_factor::enrolled(&mut conn, id).unwrap());
    let sessions: i64 = admin_session::table.count().get_result(&mut *conn).unwrap();
    assert_eq!(sessions, 0);
    let logged: Vec<String> = django_admin_log::table
        .select(django_admin_log::change_message)
        .load(&mut *conn)
        .unwrap();
    assert_eq!(
        logged,
        vec!["Reset two-factor authentication (from the command line).".to_owned()]
    );
    drop(conn);

    let output = oc_command(dir.path(), &[], "reset-two-factor", &["alice"], "");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "User 'alice' has no two-factor authentication; nothing changed.\n"
    );
    let output = oc_command(dir.path(), &[], "reset-two-factor", &["nobody"], "");
    assert!(one_line_error(&output).contains("user 'nobody' does not exist"));
}

/// `backup` copies the live SQLite database while the site serves and while another
/// connection writes, into a new file that opens and holds the site's rows; it never
/// overwrites a file, and on PostgreSQL it points to the platform's backups instead.
#[test]
fn backup_copies_a_serving_sqlite_database_and_never_overwrites() {
    use diesel::RunQueryDsl;
    let dir = tempfile::tempdir().unwrap();
    let (server, address) = start_server(dir.path(), "sqlite://site.sqlite3");
    // A writer on its own connection while the copy is taken.
    let db_path = dir.path().join("site.sqlite3");
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let writing = writing.clone();
        let db_path = db_path.clone();
        std::thread::spawn(move || {
            let mut conn = oc_lettings::db::connection::open_sqlite(&db_path).unwrap();
            let mut written = 0;
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                diesel::sql_query(
                    "INSERT INTO lettings_address (number, street, city, state, zip_code, country_iso_code) \
                     VALUES (1, 'Backup Street', 'Irvine', 'CA', 92602, 'USA')",
                )
                .execute(&mut conn)
                .unwrap();
                written += 1;
            }
            written
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let output = oc_lettings(
        dir.path(),
        &[("DATABASE_URL", "sqlite://site.sqlite3")],
        &["backup", "copy.sqlite3"],
    );
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("integrity ok") && stdout.contains("6 lettings_letting"),
        "{stdout}"
    );
    assert!(written > 0, "the writer wrote during the test");
    assert_every_page(&address);
    stop_server(server);

    // The copy stands on its own: the demo data, and the writer's rows up to one moment.
    let mut copy = oc_lettings::db::connection::open_sqlite(&dir.path().join("copy.sqlite3")).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let lettings: Count = diesel::sql_query("SELECT count(*) AS n FROM lettings_letting")
        .get_result(&mut copy)
        .unwrap();
    assert_eq!(lettings.n, 6);
    let added: Count = diesel::sql_query("SELECT count(*) AS n FROM lettings_address WHERE street = 'Backup Street'")
        .get_result(&mut copy)
        .unwrap();
    assert!(added.n <= written, "{} of {written}", added.n);

    // Never over a file, never from PostgreSQL: one line each, nothing touched.
    let before = std::fs::read(dir.path().join("copy.sqlite3")).unwrap();
    let stderr = one_line_error(&oc_lettings(
        dir.path(),
        &[("DATABASE_URL", "sqlite://site.sqlite3")],
        &["backup", "copy.sqlite3"],
    ));
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read(dir.path().join("copy.sqlite3")).unwrap(), before);
    let stderr = one_line_error(&oc_lettings(
        dir.path(),
        &[("DATABASE_URL", "postgres://u:pw@127.0.0.1:1/db")],
        &["backup", "pg.sqlite3"],
    ));
    assert!(stderr.contains("pg_dump") && !stderr.contains("pw@"), "{stderr}");
    assert!(!dir.path().join("pg.sqlite3").exists());
}

/// A database that cannot be opened says why in one line, at once: its own cause, said
/// once, never the pool's "timed out waiting for connection" first (which came after the
/// 3 s acquire timeout); a refused connection names the server it tried.
#[test]
fn a_database_that_cannot_be_opened_says_why_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.sqlite3"), vec![b'x'; 4096]).unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = format!("postgres://u:pw@127.0.0.1:{closed}/db?sslmode=disable");
    for (url, says) in [
        (
            "sqlite://junk.sqlite3",
            "junk.sqlite3: file is not a database".to_owned(),
        ),
        (refused.as_str(), format!("at 127.0.0.1:{closed}")),
    ] {
        for command in ["migrate", "createsuperuser", "import-django", "serve"] {
            let mut args = vec![command];
            if command == "import-django" {
                args.push("junk.sqlite3");
            }
            if command == "createsuperuser" {
                args.push("--no-input");
            }
            let stderr = one_line_error(&oc_lettings(
                dir.path(),
                &[
                    ("DATABASE_URL", url),
                    (
                        "SECRET_KEY",
                        "a-test-secret-key-that-is-long-enough-for-the-check-0123456789",
                    ),
                    ("DJANGO_SUPERUSER_USERNAME", "admin"),
                    ("DJANGO_SUPERUSER_PASSWORD", "Xk9!mQ2#vL7$"),
                ],
                &args,
            ));
            assert!(stderr.contains(&says), "{command} on {url}: {stderr}");
            assert!(!stderr.contains("timed out waiting"), "{command} on {url}: {stderr}");
            assert_eq!(stderr.matches(&says).count(), 1, "said once: {stderr}");
        }
    }
}

/// `--help` says where the settings come from, and `check --help` what `--deploy` checks.
#[test]
fn help_says_where_settings_come_from() {
    let dir = tempfile::tempdir().unwrap();
    let help = oc_lettings(dir.path(), &[], &["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("the environment") && text.contains(".env"), "{text}");
    let check = oc_lettings(dir.path(), &[], &["check", "--help"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("--deploy") && text.contains("SQLite") && text.contains("max_connections"),
        "{text}"
    );
}

#[test]
fn dumpdata_and_loaddata_move_a_site_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/django/dumpdata-natural.json");
    let loaded = oc_lettings(dir.path(), &[], &["loaddata", fixture.to_str().unwrap()]);
    assert!(loaded.status.success(), "{}", String::from_utf8_lossy(&loaded.stderr));
    let stdout = String::from_utf8_lossy(&loaded.stdout);
    assert!(
        stdout.contains("47 objects") && stdout.contains("46 rows added"),
        "{stdout}"
    );

    let dumped = oc_lettings(
        dir.path(),
        &[],
        &["dumpdata", "--indent", "2", "--output", "backup.json"],
    );
    assert!(dumped.status.success(), "{}", String::from_utf8_lossy(&dumped.stderr));
    assert!(dumped.stdout.is_empty(), "the dump goes to the file only");
    let backup = std::fs::read(dir.path().join("backup.json")).unwrap();
    assert_eq!(
        backup,
        std::fs::read(&fixture).unwrap(),
        "Django's own output, byte for byte"
    );

    // To stdout, one app.
    let profiles = oc_lettings(dir.path(), &[], &["dumpdata", "profiles"]);
    assert!(profiles.status.success());
    let text = String::from_utf8(profiles.stdout).unwrap();
    assert!(
        text.starts_with("[{\"model\": \"profiles.profile\"") && text.matches("\"model\"").count() == 4,
        "{text}"
    );

    // Bad arguments: one line each, and the backup stays as it was.
    let stderr = one_line_error(&oc_lettings(
        dir.path(),
        &[],
        &["dumpdata", "-o", "backup.json", "houses"],
    ));
    assert!(stderr.starts_with("error: unknown app or model \"houses\""), "{stderr}");
    assert_eq!(std::fs::read(dir.path().join("backup.json")).unwrap(), backup);
    let stderr = one_line_error(&oc_lettings(dir.path(), &[], &["loaddata", "missing.json"]));
    assert!(stderr.starts_with("error: cannot open missing.json: "), "{stderr}");
    std::fs::write(
        dir.path().join("bad.json"),
        "[{\"model\": \"lettings.address\", \"pk\": 1,",
    )
    .unwrap();
    let stderr = one_line_error(&oc_lettings(dir.path(), &[], &["loaddata", "bad.json"]));
    assert!(
        stderr.starts_with("error: bad.json: not a Django fixture: "),
        "{stderr}"
    );
}
