//! `oc-lettings`: command-line parsing only; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use oc_lettings::config::Settings;
use oc_lettings::db::{import, Database};
use oc_lettings::{startup, telemetry};

#[derive(Parser)]
#[command(
    name = "oc-lettings",
    version,
    about = "Orange County Lettings: the site and its admin commands"
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
    /// Copy users, addresses, lettings and profiles from a Django site's SQLite database.
    ImportDjango {
        /// The Django database file (either layout: oc_lettings_site_* or lettings_*/profiles_*).
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    telemetry::init(settings.log_format);
    match cli.command.unwrap_or(Command::Serve { no_seed: false }) {
        Command::Serve { no_seed } => {
            let seed = settings.seed_demo && !no_seed;
            actix_web::rt::System::new().block_on(oc_lettings::serve(settings, seed))
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
        Command::ImportDjango { path } => {
            let db = Database::new(&settings.database_url, 1)?;
            startup::prepare_database(&db, false)?;
            let mut conn = db.get()?;
            let report = import::import_django(&path, &mut conn)?;
            println!(
                "imported from {} into {}: {report}",
                path.display(),
                settings.database_url.describe()
            );
            Ok(())
        }
    }
}
