//! The rules of a user's fields, shared by the admin's user forms and `createsuperuser`.

use crate::forms::{FieldKind, FieldSpec};

pub const USERNAME: FieldSpec = FieldSpec {
    name: "username",
    label: "Username",
    kind: FieldKind::Username,
    help: "Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.",
};

pub const PASSWORD1: FieldSpec = FieldSpec {
    name: "password1",
    label: "Password",
    kind: FieldKind::NewPassword,
    help: "At least 8 characters, not entirely numeric, not the username.",
};

pub const PASSWORD2: FieldSpec = FieldSpec {
    name: "password2",
    label: "Password confirmation",
    kind: FieldKind::Confirm(PASSWORD1.name),
    help: "Enter the same password as before, for verification.",
};

/// The password form's fields (adding a user, and changing a user's password).
pub const PASSWORD_FIELDS: &[FieldSpec] = &[PASSWORD1, PASSWORD2];

pub const EMAIL: FieldSpec = FieldSpec {
    name: "email",
    label: "Email address",
    kind: FieldKind::Email { max: 254 },
    help: "",
};
