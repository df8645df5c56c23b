//! The four models of the admin, one module each.

pub mod address;
pub mod letting;
pub mod profile;
pub mod user;
