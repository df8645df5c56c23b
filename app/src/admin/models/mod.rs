//! The five models of the admin, one module each.

pub mod address;
pub mod group;
pub mod letting;
pub mod profile;
pub mod user;
