//! The site's integration tests, as one test binary (one link of actix, diesel and reqwest
//! instead of one per file): each module starts the real server on a loopback port, or runs
//! the real `oc-lettings` binary, and checks what a client sees. Every test that touches a
//! database runs on SQLite and on PostgreSQL (`common::backend`).
#![allow(clippy::unwrap_used)]

/// A measured figure, written straight to stderr (past the test harness's capture, so
/// CI's log shows it even when the test passes).
macro_rules! figure {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

#[macro_use]
mod common;

mod admin;
mod admin_permissions;
mod assets;
mod browser;
mod cli;
mod database;
mod fixtures;
mod fleet;
mod fleet_router;
mod history;
mod import;
mod layers;
mod lists;
mod metrics;
mod operations;
mod pages;
mod prometheus;
mod reader;
mod recovery;
mod security;
mod two_factor;
