//! Users in the admin (superusers only). Passwords are set through a password form and
//! stored as argon2id hashes; they are never shown.

use diesel::prelude::*;

use crate::accounts::fields::{EMAIL, PASSWORD1, PASSWORD2, PASSWORD_FIELDS, USERNAME};
use crate::accounts::password;
use crate::admin::model::{
    by, facets_of, in_search_index, invalid_choice, lower, paginate, picked, unique_violation, AdminModel, Cascade,
    Counted, Facet, FilterKey, ListFilter, ListPage, ListQuery, ListRow, ModelMeta, ObjectAction, Pressed, SaveError,
    SearchIndex, SortKey, YES_NO,
};
use crate::admin::permissions;
use crate::admin::session::StaffSession;
use crate::db::connection::MultiBackend;
use crate::db::schema::{auth_group, auth_user as user, profiles_profile as profile};
use crate::db::{DbConnection, DbError};
use crate::forms::{Choices, Cleaned, Cleaner, FieldKind, FieldSpec, Form, FormErrors};
use crate::{contains, ids};
use diesel::sql_types::Bool;

pub struct Users;
pub static USERS: Users = Users;

const FIRST_NAME: FieldSpec = FieldSpec {
    name: "first_name",
    label: "First name",
    kind: FieldKind::Text { min: 0, max: 150 },
    help: "",
};
const LAST_NAME: FieldSpec = FieldSpec {
    name: "last_name",
    label: "Last name",
    kind: FieldKind::Text { min: 0, max: 150 },
    help: "",
};
const IS_ACTIVE: FieldSpec = FieldSpec {
    name: "is_active",
    label: "Active",
    kind: FieldKind::Checkbox,
    help: "Unselect this instead of deleting accounts.",
};
const IS_STAFF: FieldSpec = FieldSpec {
    name: "is_staff",
    label: "Staff status",
    kind: FieldKind::Checkbox,
    help: "Designates whether the user can log into this admin site.",
};
const IS_SUPERUSER: FieldSpec = FieldSpec {
    name: "is_superuser",
    label: "Superuser status",
    kind: FieldKind::Checkbox,
    help:
        "Designates that this user has all permissions without explicitly assigning them, and manages users and groups.",
};
const GROUPS: FieldSpec = FieldSpec {
    name: "groups",
    label: "Groups",
    kind: FieldKind::MultipleChoice,
    help: "The groups this user belongs to. A user gets all permissions granted to each of their groups.",
};
const USER_PERMISSIONS: FieldSpec = FieldSpec {
    name: "user_permissions",
    label: "User permissions",
    kind: FieldKind::MultipleChoice,
    help: "Specific permissions for this user.",
};

const ADD_FIELDS: &[FieldSpec] = &[USERNAME, PASSWORD1, PASSWORD2];
const CHANGE_FIELDS: &[FieldSpec] = &[
    USERNAME,
    FIRST_NAME,
    LAST_NAME,
    EMAIL,
    IS_ACTIVE,
    IS_STAFF,
    IS_SUPERUSER,
    GROUPS,
    USER_PERMISSIONS,
];

/// The add form, cleaned: a username and a password (given twice).
struct UserAddForm {
    username: String,
    password: String,
}

impl UserAddForm {
    fn clean(form: &Form) -> Result<Self, FormErrors> {
        let mut fields = Cleaner::new(form);
        let username = fields.text(&USERNAME);
        let password = fields.text(&PASSWORD1);
        fields.text(&PASSWORD2);
        fields.finish(UserAddForm { username, password })
    }
}

/// The change form, cleaned (the password has its own page).
struct UserChangeForm {
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    is_active: bool,
    is_staff: bool,
    is_superuser: bool,
    groups: Vec<i32>,
    permissions: Vec<String>,
}

impl UserChangeForm {
    fn clean(form: &Form) -> Result<Self, FormErrors> {
        let mut fields = Cleaner::new(form);
        let mut typed = UserChangeForm {
            username: fields.text(&USERNAME),
            first_name: fields.text(&FIRST_NAME),
            last_name: fields.text(&LAST_NAME),
            email: fields.text(&EMAIL),
            is_active: fields.bool(&IS_ACTIVE),
            is_staff: fields.bool(&IS_STAFF),
            is_superuser: fields.bool(&IS_SUPERUSER),
            groups: Vec::new(),
            permissions: fields.list(&USER_PERMISSIONS),
        };
        let groups = fields.list(&GROUPS);
        match groups.iter().map(|g| g.parse::<i32>()).collect::<Result<Vec<i32>, _>>() {
            Ok(ids) => typed.groups = ids,
            Err(_) => fields.reject(&GROUPS, crate::forms::NOT_A_CHOICE),
        }
        if let Some(unknown) = typed.permissions.iter().find(|p| !permissions::is_known(p)) {
            fields.reject(&USER_PERMISSIONS, crate::forms::not_a_choice(unknown));
        }
        fields.finish(typed)
    }

    fn into_form(self) -> Form {
        let mut form = Form::default();
        form.set(USERNAME.name, self.username);
        form.set(FIRST_NAME.name, self.first_name);
        form.set(LAST_NAME.name, self.last_name);
        form.set(EMAIL.name, self.email);
        form.set(IS_ACTIVE.name, flag(self.is_active));
        form.set(IS_STAFF.name, flag(self.is_staff));
        form.set(IS_SUPERUSER.name, flag(self.is_superuser));
        form.set_all(GROUPS.name, self.groups.iter().map(i32::to_string).collect());
        form.set_all(USER_PERMISSIONS.name, self.permissions);
        form
    }
}

static META: ModelMeta = ModelMeta {
    app: "auth",
    app_label: "Authentication and authorization",
    name: "user",
    verbose: "user",
    plural: "users",
    columns: &COLUMNS,
    add_fields: ADD_FIELDS,
    change_fields: CHANGE_FIELDS,
    search_help: "username, first name, last name or email address",
    superuser_only: true,
    filters: &USER_FILTERS,
};

/// Django's `UserAdmin.list_filter`: staff, superuser and active status (yes/no, each
/// with its key in `FILTER_KEYS`), and groups (`?groups__id__exact=<group id>`, shown by
/// the group's name: its own facet, [`group_facet`]).
const USER_FILTERS: [ListFilter; 4] = [
    ListFilter {
        field: "is_staff",
        title: "By staff status",
        choices: Some(YES_NO),
    },
    ListFilter {
        field: "is_superuser",
        title: "By superuser status",
        choices: Some(YES_NO),
    },
    ListFilter {
        field: "is_active",
        title: "By active",
        choices: Some(YES_NO),
    },
    ListFilter {
        field: GROUP_FILTER,
        title: "By groups",
        choices: None,
    },
];

/// The groups filter's field (Django's `groups__id__exact`).
const GROUP_FILTER: &str = "groups__id";

/// The yes/no filters: those with a key in `FILTER_KEYS`.
const YES_NO_FILTERS: &[ListFilter] = USER_FILTERS.split_at(3).0;

/// The users in group `value` (a group's id; any other value matches no one).
fn in_group(value: &str) -> Condition {
    match value.parse::<i32>() {
        Ok(group) => Box::new(
            diesel::dsl::sql::<Bool>("auth_user.id IN (SELECT user_id FROM auth_user_groups WHERE group_id = ")
                .bind::<diesel::sql_types::Integer, _>(group)
                .sql(")"),
        ),
        Err(_) => Box::new(diesel::dsl::sql::<Bool>("1 = 0")),
    }
}

/// The groups filter's choices: every group by name (the first [`GROUP_CHOICES`]), with
/// how many users of the list (searched, narrowed by the other filters) are in each when
/// counts are shown: one count per group, each over the list's own conditions.
fn group_facet(conn: &mut DbConnection, query: &ListQuery, counted: bool) -> Result<Facet, DbError> {
    let groups: Vec<(i32, String)> = auth_group::table
        .select((auth_group::id, auth_group::name))
        .order(auth_group::name)
        .limit(GROUP_CHOICES)
        .load(conn)?;
    let others = query.without(GROUP_FILTER);
    let mut counts = Vec::with_capacity(groups.len());
    for (id, _) in &groups {
        let count = if counted {
            Some(
                filtered(&others)
                    .filter(in_group(&id.to_string()))
                    .count()
                    .get_result(conn)?,
            )
        } else {
            None
        };
        counts.push((id.to_string(), count));
    }
    Ok(Facet {
        field: GROUP_FILTER,
        counts,
        labels: groups.into_iter().map(|(id, name)| (id.to_string(), name)).collect(),
    })
}

/// The most groups the filter lists.
const GROUP_CHOICES: i64 = 100;

type Condition = Box<dyn BoxableExpression<user::table, MultiBackend, SqlType = Bool>>;

/// How many users of the list have each value (`1`, `0`) of a yes/no column.
macro_rules! yes_no_counts {
    ($conn:expr, $column:expr, $conditions:expr) => {{
        let grouped = user::table
            .group_by($column)
            .select(($column, diesel::dsl::count_star()))
            .into_boxed();
        let rows: Vec<(bool, i64)> = $conditions
            .into_iter()
            .fold(grouped, |grouped, condition| grouped.filter(condition))
            .load($conn)?;
        Ok(rows
            .into_iter()
            .map(|(yes, n)| (if yes { "1" } else { "0" }.to_owned(), n))
            .collect())
    }};
}

/// Each filter's SQL, in `USER_FILTERS`' order.
const FILTER_KEYS: [FilterKey<Condition>; YES_NO_FILTERS.len()] = [
    FilterKey {
        condition: |value| Box::new(user::is_staff.eq(value == "1")),
        counts: |conn, narrowed| yes_no_counts!(conn, user::is_staff, narrowed),
    },
    FilterKey {
        condition: |value| Box::new(user::is_superuser.eq(value == "1")),
        counts: |conn, narrowed| yes_no_counts!(conn, user::is_superuser, narrowed),
    },
    FilterKey {
        condition: |value| Box::new(user::is_active.eq(value == "1")),
        counts: |conn, narrowed| yes_no_counts!(conn, user::is_active, narrowed),
    },
];

type Boxed<'a> = user::BoxedQuery<'a, MultiBackend>;

/// The list page's columns; each sorts by its key in `SORT_KEYS` (one per column, or
/// the build fails).
const COLUMNS: [&str; 5] = ["Username", "Email address", "First name", "Last name", "Staff status"];

const SORT_KEYS: [SortKey<Boxed<'static>>; COLUMNS.len()] = [
    |q, d| by(q, user::username, d),
    |q, d| by(q, user::email, d),
    |q, d| by(q, user::first_name, d),
    |q, d| by(q, user::last_name, d),
    |q, d| by(q, user::is_staff, d),
];

/// What narrows the list: its search, and each filter picked.
fn conditions(query: &ListQuery) -> Vec<Condition> {
    let mut conditions: Vec<Condition> = Vec::new();
    if !query.search.trim().is_empty() {
        conditions.push(
            match in_search_index(query, "auth_user.id", &[SearchIndex::of("auth_user", None)]) {
                Some(indexed) => indexed,
                None if query.like_through_index() => {
                    let pattern = query.pattern();
                    Box::new(
                        lower(user::username)
                            .like(pattern.clone())
                            .escape('\\')
                            .or(lower(user::first_name).like(pattern.clone()).escape('\\'))
                            .or(lower(user::last_name).like(pattern.clone()).escape('\\'))
                            .or(lower(user::email).like(pattern).escape('\\')),
                    )
                }
                None => Box::new(
                    contains!(query, user::username)
                        .or(contains!(query, user::first_name))
                        .or(contains!(query, user::last_name))
                        .or(contains!(query, user::email)),
                ),
            },
        );
    }
    conditions.extend(picked(query, YES_NO_FILTERS, &FILTER_KEYS));
    if let Some(group) = query.filter(GROUP_FILTER) {
        conditions.push(in_group(group));
    }
    conditions
}

fn filtered(query: &ListQuery) -> Boxed<'static> {
    conditions(query)
        .into_iter()
        .fold(user::table.into_boxed(), |sql, condition| sql.filter(condition))
}

fn flag(value: bool) -> &'static str {
    if value {
        "on"
    } else {
        ""
    }
}

const TAKEN: &str = "A user with that username already exists.";

impl AdminModel for Users {
    fn meta(&self) -> &'static ModelMeta {
        &META
    }

    fn list(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<ListPage, DbError> {
        paginate(
            conn,
            query,
            filtered,
            &SORT_KEYS,
            ids!(user::table, user::id),
            Counted::table("auth_user"),
            |conn, page| {
                type Row = (i32, String, String, String, String, bool);
                let rows: Vec<Row> = page
                    .select((
                        user::id,
                        user::username,
                        user::email,
                        user::first_name,
                        user::last_name,
                        user::is_staff,
                    ))
                    .load(conn)?;
                Ok(rows
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
                    .collect())
            },
        )
    }

    fn facets(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<Vec<Facet>, DbError> {
        let mut facets = facets_of(conn, query, "auth_user", YES_NO_FILTERS, &FILTER_KEYS, conditions)?;
        let counted = query.facets || crate::admin::model::is_small(conn, "auth_user")?;
        facets.push(group_facet(conn, query, counted)?);
        Ok(facets)
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
        let Some((username, first_name, last_name, email, is_active, is_staff, is_superuser)) = row else {
            return Ok(None);
        };
        Ok(Some(
            UserChangeForm {
                username,
                first_name,
                last_name,
                email,
                is_active,
                is_staff,
                is_superuser,
                groups: permissions::groups_of(conn, id)?,
                permissions: permissions::of_user(conn, id)?,
            }
            .into_form(),
        ))
    }

    fn describe(&self, conn: &mut DbConnection, id: i32) -> Result<Option<String>, DbError> {
        crate::db::first(user::table.find(id).select(user::username), conn)
    }

    /// In username order, as Django's `UserAdmin.ordering`.
    fn lookup(
        &self,
        conn: &mut DbConnection,
        query: &ListQuery,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<(i32, String)>, DbError> {
        Ok(filtered(query)
            .order(user::username)
            .limit(limit)
            .offset(offset)
            .select((user::id, user::username))
            .load(conn)?)
    }

    fn save(&self, conn: &mut DbConnection, id: Option<i32>, form: &Form) -> Result<i32, SaveError> {
        let taken = |err| unique_violation(err, USERNAME.name, TAKEN);
        match id {
            Some(id) => {
                let values = UserChangeForm::clean(form).map_err(SaveError::Invalid)?;
                let was_superuser: bool = user::table
                    .find(id)
                    .select(user::is_superuser)
                    .first(conn)
                    .optional()?
                    .unwrap_or(false);
                diesel::update(user::table.find(id))
                    .set((
                        user::username.eq(&values.username),
                        user::first_name.eq(&values.first_name),
                        user::last_name.eq(&values.last_name),
                        user::email.eq(&values.email),
                        user::is_active.eq(values.is_active),
                        user::is_staff.eq(values.is_staff),
                        user::is_superuser.eq(values.is_superuser),
                    ))
                    .execute(conn)
                    .map_err(taken)?;
                permissions::set_for_user(conn, id, &values.permissions)?;
                permissions::set_groups(conn, id, &values.groups).map_err(|err| match err {
                    // A group deleted while the form was open.
                    DbError::Query(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                        _,
                    )) => invalid_choice(GROUPS.name),
                    other => other.into(),
                })?;
                // Deactivated, no longer staff, or no longer a superuser: every session
                // ends (a reactivation must not bring old sessions back).
                if !values.is_active || !values.is_staff || (was_superuser && !values.is_superuser) {
                    crate::accounts::model::end_sessions(conn, id)?;
                }
                Ok(id)
            }
            None => {
                let values = UserAddForm::clean(form).map_err(SaveError::Invalid)?;
                let hash = password::hash_password(&values.password)?;
                Ok(diesel::insert_into(user::table)
                    .values((
                        user::username.eq(&values.username),
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

    fn choices(&self, conn: &mut DbConnection) -> Result<Choices, DbError> {
        let groups: Vec<(i32, String)> = auth_group::table
            .select((auth_group::id, auth_group::name))
            .order(auth_group::name)
            .load(conn)?;
        Ok(Choices::from([
            (
                GROUPS.name,
                groups.into_iter().map(|(id, name)| (id.to_string(), name)).collect(),
            ),
            (USER_PERMISSIONS.name, permissions::choices()),
        ]))
    }

    fn cascades(&self, conn: &mut DbConnection, id: i32) -> Result<Vec<Cascade>, DbError> {
        let profiles: Vec<(i32, String)> = profile::table
            .inner_join(user::table)
            .filter(user::id.eq(id))
            .select((profile::id, user::username))
            .load(conn)?;
        let mut cascades: Vec<Cascade> = profiles
            .into_iter()
            .map(|(profile_id, n)| Cascade {
                label: format!("Profile: {n}"),
                model: Some(("profiles", "profile")),
                row: Some((profile_id, n)),
            })
            .collect();
        // What goes with the user that is no object of the admin's (no permission needed).
        let link = |label: String| Cascade {
            label,
            model: None,
            row: None,
        };
        let groups: Vec<String> = crate::db::schema::auth_user_groups::table
            .inner_join(auth_group::table)
            .filter(crate::db::schema::auth_user_groups::user_id.eq(id))
            .order(auth_group::name)
            .select(auth_group::name)
            .load(conn)?;
        cascades.extend(
            groups
                .into_iter()
                .map(|g| link(format!("Membership of the group “{g}”"))),
        );
        let own: Vec<String> = crate::db::schema::auth_user_user_permissions::table
            .filter(crate::db::schema::auth_user_user_permissions::user_id.eq(id))
            .order(crate::db::schema::auth_user_user_permissions::permission)
            .select(crate::db::schema::auth_user_user_permissions::permission)
            .load(conn)?;
        cascades.extend(
            own.into_iter()
                .map(|p| link(format!("Permission given to the user: {p}"))),
        );
        if crate::accounts::two_factor::status(conn, id)? != crate::accounts::two_factor::Status::default() {
            cascades.push(link("Two-factor authentication key and recovery codes".to_owned()));
        }
        let sessions: i64 = crate::db::schema::admin_session::table
            .filter(crate::db::schema::admin_session::user_id.eq(id))
            .count()
            .get_result(conn)?;
        if sessions > 0 {
            cascades.push(link(format!(
                "{sessions} admin session{} (logged out)",
                if sessions == 1 { "" } else { "s" }
            )));
        }
        Ok(cascades)
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
        static ACTIONS: [&dyn ObjectAction; 2] = [&SET_PASSWORD, &RESET_TWO_FACTOR];
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
        form.set(USERNAME.name, title);
    }

    fn run(
        &self,
        conn: &mut DbConnection,
        id: i32,
        values: &Cleaned,
        actor: &StaffSession,
    ) -> Result<String, SaveError> {
        let hash = password::hash_password(&values.text(PASSWORD1.name))?;
        // Changing one's own password keeps this session, with a new CSRF token
        // (Django's update_session_auth_hash).
        let csrf = crate::tokens::random_token()?;
        let kept = (id == actor.user_id).then_some(crate::accounts::model::KeptSession {
            token_hash: &actor.token_hash,
            new_csrf_token: &csrf,
        });
        conn.transaction(|conn| {
            if !crate::accounts::model::set_password_hash(conn, id, &hash, kept)? {
                // Deleted since the form was shown: the form says so, nothing is recorded.
                return Err(SaveError::Invalid(FormErrors::field(
                    PASSWORD1.name,
                    "This user no longer exists.",
                )));
            }
            // Recorded as Django's user_change_password records it.
            let username: String = user::table.find(id).select(user::username).first(conn)?;
            crate::admin::history::record(
                conn,
                actor.user_id,
                "auth.user",
                id,
                &username,
                crate::admin::history::Action::Change,
                &crate::admin::history::changed_message(&["password"]),
            )?;
            Ok("Password changed successfully.".to_owned())
        })
    }
}

/// A superuser's reset of a user's second factor (`/admin/auth/user/<id>/two_factor/`),
/// for a lost phone: the key and recovery codes go, the user's sessions end (the acting
/// superuser's own stays), and the user's history records it.
pub struct ResetTwoFactor;
pub static RESET_TWO_FACTOR: ResetTwoFactor = ResetTwoFactor;

impl ObjectAction for ResetTwoFactor {
    fn slug(&self) -> &'static str {
        "two_factor"
    }

    fn link(&self) -> (&'static str, &'static str) {
        (
            "Reset this user’s two-factor authentication",
            "(a lost phone: they log in with their password and set it up again)",
        )
    }

    fn heading(&self, title: &str) -> String {
        format!("Reset two-factor authentication: {title}")
    }

    fn fields(&self) -> &'static [crate::forms::FieldSpec] {
        &[]
    }

    fn run(
        &self,
        conn: &mut DbConnection,
        id: i32,
        _values: &Cleaned,
        actor: &StaffSession,
    ) -> Result<String, SaveError> {
        let keep = (id == actor.user_id).then_some(actor.token_hash.as_str());
        let had = crate::admin::two_factor::reset(conn, id, actor.user_id, crate::admin::two_factor::RESET, keep)?;
        Ok(if had {
            "Two-factor authentication was reset; the user’s sessions have ended.".to_owned()
        } else {
            "This user had no two-factor authentication; nothing changed.".to_owned()
        })
    }
}
