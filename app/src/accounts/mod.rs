//! Users (Django's `auth_user`): the accounts behind profiles and, later, the admin.

pub mod change_password;
pub mod fields;
pub mod hashing;
pub mod model;
pub mod password;
pub mod superuser;
pub mod totp;
pub mod two_factor;
