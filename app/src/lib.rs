//! Orange County Lettings: the site (actix-web + diesel + tera) and its admin commands.

pub mod accounts;
pub mod admin;
pub mod assets;
pub mod clock;
pub mod config;
pub mod counter;
pub mod db;
pub mod errors;
pub mod forms;
pub mod http;
pub mod ids;
pub mod json_log;
pub mod lettings;
pub mod manage;
pub mod pagination;
pub mod password_rules;
pub mod profiles;
pub mod redact;
pub mod release;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod templates;
pub mod tokens;
pub mod trace;

use std::net::TcpListener;

/// The global allocator this binary was built with: `mimalloc`, `jemalloc` or `system`.
pub const ALLOCATOR: &str = env!("OC_ALLOCATOR");

use anyhow::Context as _;

use crate::config::Settings;
use crate::db::Database;

/// `oc-lettings serve`: migrate, seed an empty database, then serve until SIGTERM/SIGINT.
pub async fn serve(settings: Settings, seed_demo: bool) -> anyhow::Result<()> {
    settings.require_secret_key()?;
    let db = Database::new(&settings.database_url, settings.database_pool_size)?;
    let prepare_db = db.clone();
    let migrate = settings.migrate_on_start;
    let (prepared, schema) = actix_web::web::block(move || {
        // The dummy password hash of failed logins for unknown users, made now (one
        // argon2id hash) rather than by the first such login.
        let _ = accounts::password::prepare_dummy();
        db::pg_connection::blocking(|| startup::prepare_for_serving(&prepare_db, seed_demo, migrate))
    })
    .await
    .context("database preparation was cancelled")??;
    tracing::info!(
        database = %settings.database_url.describe(),
        migrations_applied = prepared.migrations_applied,
        seeded_demo_data = prepared.seeded,
        "database ready"
    );
    if !schema.pending.is_empty() {
        tracing::error!(
            pending = ?schema.pending,
            "the database lacks migrations of this release: run `oc-lettings migrate` (MIGRATE_ON_START is off); /readyz fails until then"
        );
    }
    if !schema.unknown.is_empty() {
        tracing::warn!(
            unknown = ?schema.unknown,
            "the database holds migrations this release does not know (a newer release ran them); serving on, since migrations only add"
        );
    }
    let address = format!("{}:{}", settings.host, settings.port);
    let listener = TcpListener::bind(&address).with_context(|| format!("cannot listen on {address}"))?;
    let bound = listener.local_addr().context("cannot read the listening address")?;
    tracing::info!("listening on http://{bound}");
    startup::build_server(settings, db, listener)?.await?;
    tracing::info!("stopped");
    Ok(())
}
pub mod checks;
pub mod metrics;
pub mod middleware;
pub mod page_cache;
