//! `oc-lettings`: command-line parsing only; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use oc_lettings::accounts::superuser::create_superuser;
use oc_lettings::checks::{connection_budget_problem, deploy_problems};
use oc_lettings::config::{DatabaseUrl, Settings};
use oc_lettings::db::Database;
use oc_lettings::manage::import;
use oc_lettings::{startup, telemetry};

#[derive(Parser)]
#[command(
    name = "oc-lettings",
    version = oc_lettings::release::long_version(),
    about = "Orange County Lettings: the site and its admin commands",
    after_help = "Settings come from the environment, and from a .env file (in the current directory or a parent) \
                  for what the environment leaves unset (DATABASE_URL, SECRET_KEY, ALLOWED_HOSTS, DEBUG, …): \
                  see the README's configuration table."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the site (the default): migrates, seeds an empty database, then listens on HOST:PORT.
    Serve {
        /// Do not seed demo data into an empty database (same as SEED_DEMO=false).
        #[arg(long)]
        no_seed: bool,
    },
    /// Apply the embedded database migrations, then exit.
    Migrate,
    /// Check the settings; with --deploy, list every setting unsafe in production (exit 1 on any).
    Check {
        /// List what is unsafe in production, as Django's `check --deploy`: DEBUG, weak or
        /// placeholder keys (and fallbacks), ALLOWED_HOSTS, a SQLite database, demo seeding,
        /// PostgreSQL without TLS, plain-http cookies and redirects, and whether the
        /// instances' connections fit in PostgreSQL's max_connections.
        #[arg(long)]
        deploy: bool,
    },
    /// Copy a SQLite database to FILE, consistently, while the site serves (VACUUM INTO),
    /// then check the copy. PostgreSQL: use the platform's backups or pg_dump.
    Backup {
        /// The new file (never overwritten).
        file: PathBuf,
    },
    /// Write the site's data as a Django JSON fixture, as `manage.py dumpdata --natural-foreign
    /// --natural-primary -e contenttypes -e auth.Permission -e sessions` writes it: lettings,
    /// profiles, users, groups and their permissions, and the admin history.
    Dumpdata {
        /// Only these apps or models (lettings, profiles, auth, admin, or a model label such
        /// as lettings.address); all of them when none is given.
        labels: Vec<String>,
        /// Indent each level by N spaces (without: one line, as Django's).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=16))]
        indent: Option<u8>,
        /// Write to FILE (replaced only once the dump is complete) instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Load a Django JSON fixture (this site's dumpdata, or Django's own, with or without
    /// natural keys), as `manage.py loaddata`: each object saved by its key, in one
    /// transaction. Rows the fixture does not hold are left alone.
    Loaddata {
        /// The fixture file, or - for stdin.
        fixture: PathBuf,
        /// Count what loading would add and update, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy users, addresses, lettings and profiles from a Django site's SQLite database.
    /// Into a site that already holds data it refuses, saying what it would add and
    /// overwrite, unless told how: --merge or --replace.
    ImportDjango {
        /// The Django database file (either layout: oc_lettings_site_* or lettings_*/profiles_*).
        path: PathBuf,
        /// Add only what the site lacks: rows the site has (a staff member's edits, a
        /// user's access) stay as they are.
        #[arg(long, conflicts_with = "replace")]
        merge: bool,
        /// Overwrite the rows the site has with the Django database's (edits since are
        /// lost). Rows only the site has are kept either way.
        #[arg(long)]
        replace: bool,
        /// Count what the import would add, update and keep, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Change a user's password (asked twice, no echo; Django's validators; three tries).
    /// Ends every session of that user.
    Changepassword {
        /// The user (default: the current system user, as Django's).
        username: Option<String>,
    },
    /// Take away a user's second factor (a lost phone) and end their sessions: they log
    /// in with their password and set it up again. Recorded in the user's history.
    ResetTwoFactor {
        /// The user.
        username: String,
    },
    /// Create a staff superuser for the admin. Prompts for what is not given; with
    /// --no-input, takes the password from DJANGO_SUPERUSER_PASSWORD.
    Createsuperuser {
        /// The username (or DJANGO_SUPERUSER_USERNAME).
        #[arg(long, env = "DJANGO_SUPERUSER_USERNAME")]
        username: Option<String>,
        /// The email address (or DJANGO_SUPERUSER_EMAIL).
        #[arg(long, env = "DJANGO_SUPERUSER_EMAIL")]
        email: Option<String>,
        /// Never prompt: fail instead when something is missing.
        #[arg(long, alias = "noinput")]
        no_input: bool,
    },
}

// The static (musl) binary of the image brings its own allocator: musl's is slow under
// threads. Chosen by measurement: bench/README.md, "The static binary's allocator".
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: an error type that shows its
/// source in its own message (`cannot open the database: {0}`) would otherwise print it
/// again as the next cause.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    telemetry::init(settings.log_format);
    match cli.command.unwrap_or(Command::Serve { no_seed: false }) {
        Command::Serve { no_seed } => {
            let seed = settings.seed_demo && !no_seed;
            // Sentry first, before the runtime; the guard flushes pending events at exit.
            let _sentry = telemetry::init_sentry(&settings)?;
            actix_web::rt::System::new().block_on(oc_lettings::serve(settings, seed))
        }
        Command::Check { deploy } => {
            let mut problems = if deploy {
                deploy_problems(&settings, |name| std::env::var(name).ok())
            } else {
                Vec::new()
            };
            if deploy {
                if let DatabaseUrl::Postgres(url) = &settings.database_url {
                    // A URL the site refuses is already among the problems.
                    let server = Database::new(&DatabaseUrl::Postgres(url.clone()), 1)
                        .map(|db| db.with_reader(settings.database_read_connections));
                    let reader_on = server.as_ref().is_ok_and(|db| db.reader().is_some());
                    match server.and_then(|db| db.max_connections()) {
                        Ok(max) => problems.extend(connection_budget_problem(&settings, max, reader_on)),
                        // From a laptop the production database is often out of reach:
                        // say what was not checked, without calling it a problem.
                        Err(err) => println!(
                            "Note: the pools' fit in PostgreSQL's max_connections was not checked (cannot read it: {err})."
                        ),
                    }
                }
            }
            if problems.is_empty() {
                println!("System check identified no issues.");
                return Ok(());
            }
            println!("System check identified {} issue(s):", problems.len());
            for problem in &problems {
                println!("  - {problem}");
            }
            bail!("{} setting(s) are unsafe for production", problems.len());
        }
        Command::Backup { file } => {
            if !matches!(settings.database_url, DatabaseUrl::Sqlite(_)) {
                return Err(oc_lettings::manage::backup::BackupError::NotSqlite.into());
            }
            let db = Database::new(&settings.database_url, 1)?;
            let mut conn = db.get()?;
            let backup = oc_lettings::manage::backup::backup(&mut conn, &file)?;
            println!("backed up {} to {backup}", settings.database_url.describe());
            Ok(())
        }
        Command::Dumpdata { labels, indent, output } => {
            use oc_lettings::manage::fixture;
            let models = fixture::Model::select(&labels)?;
            let db = Database::new(&settings.database_url, 1)?;
            let mut conn = db.get()?;
            let indent = indent.map(usize::from);
            let report = match &output {
                None => fixture::dump(&mut conn, std::io::stdout().lock(), indent, &models)?,
                Some(path) => {
                    // Into a file beside it, renamed once complete: a failed dump never
                    // leaves half a backup, nor replaces a good one.
                    let dir = path
                        .parent()
                        .filter(|d| !d.as_os_str().is_empty())
                        .unwrap_or(std::path::Path::new("."));
                    let mut file = tempfile::NamedTempFile::new_in(dir)
                        .with_context(|| format!("cannot write in {}", dir.display()))?;
                    let report =
                        fixture::dump(&mut conn, std::io::BufWriter::new(file.as_file_mut()), indent, &models)?;
                    file.persist(path)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    report
                }
            };
            eprintln!(
                "dumped {report} from {}{}",
                settings.database_url.describe(),
                output.map(|p| format!(" to {}", p.display())).unwrap_or_default()
            );
            Ok(())
        }
        Command::Loaddata { fixture: path, dry_run } => {
            use oc_lettings::manage::fixture;
            let read = if path.as_os_str() == "-" {
                fixture::read(std::io::stdin().lock())
            } else {
                let file = std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
                fixture::read(file)
            }
            .with_context(|| format!("{}", path.display()))?;
            let db = Database::new(&settings.database_url, 1)?;
            startup::prepare_database(&db, false)?;
            let mut conn = db.get()?;
            let stderr = std::io::stderr();
            let terminal = std::io::IsTerminal::is_terminal(&stderr);
            let mut progress = import::Bar::new(stderr.lock(), terminal);
            let report = fixture::load(&mut conn, read, &mut progress, dry_run)?;
            if dry_run {
                println!(
                    "dry run: loading {} into {}: {report}; nothing was changed",
                    path.display(),
                    settings.database_url.describe()
                );
            } else {
                println!(
                    "loaded {} into {}: {report}",
                    path.display(),
                    settings.database_url.describe()
                );
            }
            Ok(())
        }
        Command::Migrate => {
            let db = Database::new(&settings.database_url, 1)?;
            let prepared = startup::prepare_database(&db, false)?;
            println!(
                "{}: {} migration(s) applied",
                settings.database_url.describe(),
                prepared.migrations_applied
            );
            Ok(())
        }
        Command::Changepassword { username } => {
            let username = username
                .or_else(|| std::env::var("USER").ok())
                .context("no username given and USER is not set")?;
            let db = Database::new(&settings.database_url, 1)?;
            startup::prepare_database(&db, false)?;
            let mut conn = db.get()?;
            oc_lettings::accounts::change_password::change_password(
                &mut conn,
                &username,
                |prompt| ask_password(prompt).map_err(|err| format!("{err:#}")),
                |line| println!("{line}"),
            )?;
            Ok(())
        }
        Command::ResetTwoFactor { username } => {
            let db = Database::new(&settings.database_url, 1)?;
            startup::prepare_database(&db, false)?;
            let mut conn = db.get()?;
            use oc_lettings::admin::two_factor::{reset_from_command_line, CommandReset};
            match reset_from_command_line(&mut conn, &username)? {
                CommandReset::NoSuchUser => anyhow::bail!("user '{username}' does not exist"),
                CommandReset::NothingToReset => {
                    println!("User '{username}' has no two-factor authentication; nothing changed.")
                }
                CommandReset::Reset => println!(
                    "Two-factor authentication reset for user '{username}'; their sessions have ended. \
                     They log in with their password and set it up again."
                ),
            }
            Ok(())
        }
        Command::Createsuperuser {
            username,
            email,
            no_input,
        } => {
            let db = Database::new(&settings.database_url, 1)?;
            startup::prepare_database(&db, false)?;
            let env_password = std::env::var("DJANGO_SUPERUSER_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty());
            let mut conn = db.get()?;
            let created = if no_input {
                let (username, email, password) = superuser_answers(username, email, env_password)?;
                create_superuser(&mut conn, &username, &email, &password)?;
                username
            } else {
                let (mut ask_line, mut ask_secret, mut say) = (
                    |prompt: &str| ask(prompt).map_err(|err| format!("{err:#}")),
                    |prompt: &str| ask_password(prompt).map_err(|err| format!("{err:#}")),
                    |line: &str| eprintln!("{line}"),
                );
                oc_lettings::accounts::superuser::create_interactively(
                    &mut conn,
                    username,
                    email,
                    env_password,
                    oc_lettings::accounts::superuser::Prompts {
                        ask: &mut ask_line,
                        ask_password: &mut ask_secret,
                        say: &mut say,
                    },
                )?
            };
            println!("Superuser {created} created.");
            Ok(())
        }
        Command::ImportDjango {
            path,
            merge,
            replace,
            dry_run,
        } => {
            let db = Database::new(&settings.database_url, 1)?;
            startup::prepare_database(&db, false)?;
            let mut conn = db.get()?;
            let mode = if merge {
                import::Mode::Merge
            } else {
                import::Mode::Replace
            };
            let stderr = std::io::stderr();
            let terminal = std::io::IsTerminal::is_terminal(&stderr);
            let mut progress = import::Bar::new(stderr.lock(), terminal);
            let told = merge || replace;
            if !told && !dry_run && import::holds_data(&mut conn)? {
                // Say what it would do (a rolled-back trial), and do nothing.
                let mut source = import::Source::open(&path)?;
                let trial = import::import_from(&mut source, &mut conn, &mut import::Quiet, mode, true)?;
                let import::Changes {
                    added,
                    updated,
                    only_here,
                } = trial.changes;
                if added == 0 && updated == 0 {
                    println!(
                        "nothing to import: {} already has every row of {} as it is there ({only_here} rows only in this site)",
                        settings.database_url.describe(),
                        path.display()
                    );
                    return Ok(());
                }
                bail!(
                    "{} already holds data: importing {} would add {added} rows and overwrite {updated} the site has changed ({only_here} rows only in this site would be kept); nothing was imported. Run again with --merge (add what is missing, keep the site's rows), --replace (overwrite them), or --dry-run (count, change nothing)",
                    settings.database_url.describe(),
                    path.display()
                );
            }
            let mut source = import::Source::open(&path)?;
            let report = import::import_from(&mut source, &mut conn, &mut progress, mode, dry_run)?;
            if dry_run {
                println!(
                    "dry run ({}): importing {} into {}: {report}; nothing was changed",
                    if merge { "--merge" } else { "--replace" },
                    path.display(),
                    settings.database_url.describe()
                );
            } else {
                println!(
                    "imported from {} into {}: {report}",
                    path.display(),
                    settings.database_url.describe()
                );
            }
            Ok(())
        }
    }
}

/// One line from stdin after a prompt (on stderr, so stdout stays clean for scripts).
fn ask(prompt: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, Write};
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    if std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the answer")?
        == 0
    {
        bail!(
            "no answer to {:?} (stdin closed; createsuperuser takes --no-input with its flags and DJANGO_SUPERUSER_PASSWORD)",
            prompt.trim()
        );
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// A password without echo on a terminal; a plain line when stdin is piped.
fn ask_password(prompt: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        rpassword::prompt_password(prompt).context("cannot read the password")
    } else {
        ask(prompt)
    }
}

/// (username, email, password) for `--no-input`: from flags and DJANGO_SUPERUSER_PASSWORD.
fn superuser_answers(
    username: Option<String>,
    email: Option<String>,
    env_password: Option<String>,
) -> anyhow::Result<(String, String, String)> {
    let Some(username) = username else {
        bail!("--no-input needs --username (or DJANGO_SUPERUSER_USERNAME)");
    };
    let Some(password) = env_password else {
        bail!("--no-input needs the password in DJANGO_SUPERUSER_PASSWORD");
    };
    Ok((username, email.unwrap_or_default(), password))
}
