//! Builds the server from `Settings`, a `Database` and a bound listener: `serve` and the
//! integration tests (which bind port 0) run exactly the same application.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::config::Settings;
use crate::db::{migrations, Database, DbError};
use crate::manage::seed;
use crate::state::AppState;
use crate::{middleware, routes};

/// Seconds in-flight requests get after SIGTERM (Heroku kills at 30).
const SHUTDOWN_GRACE_SECS: u64 = 25;

/// Migrates and, when asked and the database is empty, seeds the demo data, each step
/// under the schema lock (so instances starting together neither race nor seed twice).
/// Blocking: call before the server starts.
pub fn prepare_database(db: &Database, seed_demo: bool) -> Result<PreparedDatabase, DbError> {
    prepare_for_serving(db, seed_demo, true).map(|(prepared, _)| prepared)
}

/// `serve`'s start: as [`prepare_database`], except that with `migrate` off (a release
/// phase migrates instead) it changes no schema and seeds only a complete one; returns
/// how the schema then compares with this release.
pub fn prepare_for_serving(
    db: &Database,
    seed_demo: bool,
    migrate: bool,
) -> Result<(PreparedDatabase, migrations::SchemaStatus), DbError> {
    let mut conn = db.get()?;
    let migrations_applied = if migrate {
        migrations::run_pending(&mut conn)?
    } else {
        0
    };
    let status = migrations::schema_status(&mut conn)?;
    let seeded =
        seed_demo && status.pending.is_empty() && migrations::with_schema_lock(&mut conn, seed::seed_if_empty)?;
    Ok((
        PreparedDatabase {
            migrations_applied,
            seeded,
        },
        status,
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreparedDatabase {
    pub migrations_applied: usize,
    pub seeded: bool,
}

pub fn build_server(settings: Settings, db: Database, listener: TcpListener) -> std::io::Result<Server> {
    let workers = settings.worker_count();
    // Database work runs on each worker's blocking threads; more of them than pooled
    // connections would only wait for a connection (and cost memory and context switches).
    let blocking_threads = (db.max_size() as usize).div_ceil(workers).max(2);
    let db = db.with_reader(settings.database_read_connections);
    let state = web::Data::new(AppState::new(db, settings)?);
    // Several instances on one PostgreSQL: hear each other's admin writes.
    if let (Some(target), true) = (state.db.pg_target(), state.pages.needs_listener()) {
        crate::db::notify::spawn_listener(target, &state.pages)?;
    }
    // Without a DSN, no Sentry work per request (sentry-actix would still build the
    // request's context for events that are never sent).
    let sentry_on = sentry::Hub::main().client().is_some_and(|client| client.is_enabled());
    // An admin URL's error pages are drawn in the admin's layout.
    crate::errors::set_admin_error_pages(crate::admin::render::error_html);
    let server = HttpServer::new(move || {
        // Outermost last: Sentry sees everything, including the Host check and panics.
        App::new()
            .app_data(state.clone())
            .configure(routes::configure)
            .default_service(web::to(routes::fallback))
            .wrap(from_fn(middleware::admin_error_pages))
            .wrap(from_fn(middleware::catch_panic))
            .wrap(from_fn(middleware::redirect_to_https))
            .wrap(from_fn(middleware::check_host))
            .wrap(from_fn(middleware::limit_request))
            .wrap(from_fn(middleware::log_request))
            .wrap(actix_web::middleware::Condition::new(
                sentry_on,
                // The request's hub and its data for every event; the server errors
                // themselves are reported by `log_request`, which knows a panic (already
                // reported by the panic integration: one event, not two).
                // A transaction per request, named by its route, continuing an incoming
                // `sentry-trace`/`baggage`; sampled at SENTRY_TRACES_SAMPLE_RATE.
                sentry_actix::Sentry::builder()
                    .capture_server_errors(false)
                    .start_transaction(true)
                    .finish(),
            ))
    })
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    .workers(workers)
    .worker_max_blocking_threads(blocking_threads)
    .listen(listener)?;
    Ok(server.run())
}
