//! Users in the admin (superusers only). Passwords are set through a password form and
//! stored as argon2id hashes; they are never shown.

use diesel::prelude::*;

use crate::accounts::fields::{EMAIL, PASSWORD_FIELDS, USERNAME};
use crate::accounts::password;
use crate::admin::model::{
    lower, unique_violation, AdminModel, ListPage, ListQuery, ListRow, ModelMeta, ObjectAction, Pressed, SaveError,
    PER_PAGE,
};
use crate::admin::session::{self, StaffSession};
use crate::db::connection::MultiBackend;
use crate::db::schema::{auth_user as user, profiles_profile as profile};
use crate::db::{DbConnection, DbError};
use crate::forms::{Cleaned, FieldKind, FieldSpec, Form};

pub struct Users;
pub static USERS: Users = Users;

const ADD_FIELDS: &[FieldSpec] = &[USERNAME, PASSWORD_FIELDS[0], PASSWORD_FIELDS[1]];

const CHANGE_FIELDS: &[FieldSpec] = &[
    USERNAME,
    FieldSpec {
        name: "first_name",
        label: "First name",
        kind: FieldKind::Text { min: 0, max: 150 },
        help: "",
    },
    FieldSpec {
        name: "last_name",
        label: "Last name",
        kind: FieldKind::Text { min: 0, max: 150 },
        help: "",
    },
    EMAIL,
    FieldSpec {
        name: "is_active",
        label: "Active",
        kind: FieldKind::Checkbox,
        help: "Unselect this instead of deleting accounts.",
    },
    FieldSpec {
        name: "is_staff",
        label: "Staff status",
        kind: FieldKind::Checkbox,
        help: "Designates whether the user can log into this admin site.",
    },
    FieldSpec {
        name: "is_superuser",
        label: "Superuser status",
        kind: FieldKind::Checkbox,
        help: "Designates that this user can also manage users.",
    },
];

static META: ModelMeta = ModelMeta {
    app: "auth",
    app_label: "Authentication and authorization",
    name: "user",
    verbose: "user",
    plural: "users",
    columns: &["Username", "Email address", "First name", "Last name", "Staff status"],
    add_fields: ADD_FIELDS,
    change_fields: CHANGE_FIELDS,
    search_help: "username, first name, last name or email address",
    superuser_only: true,
};

type Boxed<'a> = user::BoxedQuery<'a, MultiBackend>;

fn filtered(query: &ListQuery) -> Boxed<'static> {
    let mut sql: Boxed<'static> = user::table.into_boxed();
    if !query.search.trim().is_empty() {
        let pattern = query.pattern();
        sql = sql.filter(
            lower(user::username)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(user::first_name).like(pattern.clone()).escape('\\'))
                .or(lower(user::last_name).like(pattern.clone()).escape('\\'))
                .or(lower(user::email).like(pattern).escape('\\')),
        );
    }
    sql
}

fn flag(value: bool) -> &'static str {
    if value {
        "on"
    } else {
        ""
    }
}

const TAKEN: &str = "A user with that username already exists.";

/// Stores a user's new password hash and ends their sessions (as a password change should).
pub fn set_password_hash(
    conn: &mut DbConnection,
    id: i32,
    hash: &str,
    keep_session: Option<&str>,
) -> Result<bool, DbError> {
    conn.transaction(|conn| {
        let updated = diesel::update(user::table.find(id))
            .set(user::password.eq(hash))
            .execute(conn)?;
        session::delete_for_user(conn, id, keep_session)?;
        Ok(updated > 0)
    })
}

impl AdminModel for Users {
    fn meta(&self) -> &'static ModelMeta {
        &META
    }

    fn list(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<ListPage, DbError> {
        let total = filtered(query).count().get_result(conn)?;
        let sql = filtered(query);
        let sql = match query.sort {
            Some((0, false)) => sql.order(user::username.asc()),
            Some((0, true)) => sql.order(user::username.desc()),
            Some((1, false)) => sql.order(user::email.asc()),
            Some((1, true)) => sql.order(user::email.desc()),
            Some((2, false)) => sql.order(user::first_name.asc()),
            Some((2, true)) => sql.order(user::first_name.desc()),
            Some((3, false)) => sql.order(user::last_name.asc()),
            Some((3, true)) => sql.order(user::last_name.desc()),
            Some((4, false)) => sql.order(user::is_staff.asc()),
            Some((4, true)) => sql.order(user::is_staff.desc()),
            _ => sql.order(user::id.desc()),
        };
        type Row = (i32, String, String, String, String, bool);
        let rows: Vec<Row> = sql
            .then_order_by(user::id.desc())
            .limit(PER_PAGE)
            .offset(query.offset())
            .select((
                user::id,
                user::username,
                user::email,
                user::first_name,
                user::last_name,
                user::is_staff,
            ))
            .load(conn)?;
        Ok(ListPage {
            total,
            rows: rows
                .into_iter()
                .map(|(id, username, email, first, last, staff)| ListRow {
                    id,
                    cells: vec![
                        username,
                        email,
                        first,
                        last,
                        if staff { "yes" } else { "no" }.to_owned(),
                    ],
                })
                .collect(),
        })
    }

    fn load(&self, conn: &mut DbConnection, id: i32) -> Result<Option<Form>, DbError> {
        type Row = (String, String, String, String, bool, bool, bool);
        let row: Option<Row> = crate::db::first(
            user::table.find(id).select((
                user::username,
                user::first_name,
                user::last_name,
                user::email,
                user::is_active,
                user::is_staff,
                user::is_superuser,
            )),
            conn,
        )?;
        Ok(row.map(|(username, first, last, email, active, staff, superuser)| {
            let mut form = Form::default();
            form.set("username", username);
            form.set("first_name", first);
            form.set("last_name", last);
            form.set("email", email);
            form.set("is_active", flag(active));
            form.set("is_staff", flag(staff));
            form.set("is_superuser", flag(superuser));
            form
        }))
    }

    fn describe(&self, conn: &mut DbConnection, id: i32) -> Result<Option<String>, DbError> {
        crate::db::first(user::table.find(id).select(user::username), conn)
    }

    fn save(&self, conn: &mut DbConnection, id: Option<i32>, values: &Cleaned) -> Result<i32, SaveError> {
        let taken = |err| unique_violation(err, "username", TAKEN);
        match id {
            Some(id) => {
                diesel::update(user::table.find(id))
                    .set((
                        user::username.eq(values.text("username")),
                        user::first_name.eq(values.text("first_name")),
                        user::last_name.eq(values.text("last_name")),
                        user::email.eq(values.text("email")),
                        user::is_active.eq(values.bool("is_active")),
                        user::is_staff.eq(values.bool("is_staff")),
                        user::is_superuser.eq(values.bool("is_superuser")),
                    ))
                    .execute(conn)
                    .map_err(taken)?;
                Ok(id)
            }
            None => {
                let hash = password::hash_password(&values.text("password1"))?;
                Ok(diesel::insert_into(user::table)
                    .values((
                        user::username.eq(values.text("username")),
                        user::password.eq(hash),
                        user::is_active.eq(true),
                        user::date_joined.eq(crate::clock::now()),
                    ))
                    .returning(user::id)
                    .get_result(conn)
                    .map_err(taken)?)
            }
        }
    }

    fn cascades(&self, conn: &mut DbConnection, id: i32) -> Result<Vec<String>, DbError> {
        let names: Vec<String> = profile::table
            .inner_join(user::table)
            .filter(user::id.eq(id))
            .select(user::username)
            .load(conn)?;
        Ok(names.into_iter().map(|n| format!("Profile: {n}")).collect())
    }

    fn delete(&self, conn: &mut DbConnection, id: i32) -> Result<bool, DbError> {
        Ok(diesel::delete(user::table.find(id)).execute(conn)? > 0)
    }

    /// A new user's details come next, as in Django's `UserAdmin.response_add` ("Save"
    /// continues editing; "Save and add another" still adds another).
    fn after_add(&self, pressed: Pressed, id: i32) -> String {
        match pressed {
            Pressed::AddAnother => Pressed::AddAnother.location(&META, id),
            Pressed::Save | Pressed::Continue => Pressed::Continue.location(&META, id),
        }
    }

    fn actions(&self) -> &'static [&'static dyn ObjectAction] {
        static ACTIONS: [&dyn ObjectAction; 1] = [&SET_PASSWORD];
        &ACTIONS
    }

    fn readonly(&self, conn: &mut DbConnection, id: i32) -> Result<Vec<(&'static str, String)>, DbError> {
        let row: Option<(String, Option<chrono::NaiveDateTime>, chrono::NaiveDateTime)> = crate::db::first(
            user::table
                .find(id)
                .select((user::password, user::last_login, user::date_joined)),
            conn,
        )?;
        let Some((hash, last_login, joined)) = row else {
            return Ok(Vec::new());
        };
        let password = if password::is_usable(&hash) {
            "set (stored hashed, never shown)"
        } else {
            "no usable password"
        };
        let when = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M UTC").to_string();
        Ok(vec![
            ("Password", password.to_owned()),
            ("Last login", last_login.map_or_else(|| "never".to_owned(), when)),
            ("Date joined", when(joined)),
        ])
    }
}

/// The password form of one user (`/admin/auth/user/<id>/password/`): sets an argon2id
/// hash and ends the user's other sessions (the staff member's own stays, when it is theirs).
pub struct SetPassword;
pub static SET_PASSWORD: SetPassword = SetPassword;

impl ObjectAction for SetPassword {
    fn slug(&self) -> &'static str {
        "password"
    }

    fn link(&self) -> (&'static str, &'static str) {
        (
            "Change this user’s password",
            "(passwords are stored hashed and never shown)",
        )
    }

    fn heading(&self, title: &str) -> String {
        format!("Change password: {title}")
    }

    fn fields(&self) -> &'static [crate::forms::FieldSpec] {
        PASSWORD_FIELDS
    }

    fn prefill(&self, form: &mut Form, title: &str) {
        form.set("username", title);
    }

    fn run(
        &self,
        conn: &mut DbConnection,
        id: i32,
        values: &Cleaned,
        actor: &StaffSession,
    ) -> Result<String, SaveError> {
        let hash = password::hash_password(&values.text("password1"))?;
        // Changing one's own password keeps this session (Django's update_session_auth_hash).
        let keep = (id == actor.user_id).then_some(actor.token_hash.as_str());
        set_password_hash(conn, id, &hash, keep)?;
        Ok("Password changed successfully.".to_owned())
    }
}
