//! xtask's integration tests, in one binary (as the app's): each stage run as the real
//! `xtask` binary against loopback stand-ins and real registries. One binary links xtask's
//! dependencies once, not once per file.

mod common;

mod aws;
mod circleci;
mod heroku;
mod image;
mod multiarch;
mod security;
mod supply_chain;
