//! The site's integration tests, as one test binary (one link of actix, diesel and reqwest
//! instead of one per file): each module starts the real server on a loopback port, or runs
//! the real `oc-lettings` binary, and checks what a client sees. Every test that touches a
//! database runs on SQLite and on PostgreSQL (`common::backend`).
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

mod admin;
mod assets;
mod browser;
mod cli;
mod database;
mod fleet;
mod fleet_router;
mod import;
mod operations;
mod pages;
mod recovery;
mod security;
