//! Profiles in the admin.

use std::collections::BTreeMap;

use diesel::prelude::*;

use crate::admin::model::{
    lower, unique_violation, AdminModel, ListPage, ListQuery, ListRow, ModelMeta, SaveError, PER_PAGE,
};
use crate::db::connection::MultiBackend;
use crate::db::schema::{auth_user as user, profiles_profile as profile};
use crate::db::{DbConnection, DbError};
use crate::forms::{Choices, Cleaned, FieldKind, FieldSpec, Form, FormErrors};

pub struct Profiles;
pub static PROFILES: Profiles = Profiles;

const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "user",
        label: "User",
        kind: FieldKind::Choice,
        help: "Each user has at most one profile.",
    },
    FieldSpec {
        name: "favorite_city",
        label: "Favorite city",
        kind: FieldKind::Text { min: 0, max: 64 },
        help: "",
    },
];

static META: ModelMeta = ModelMeta {
    app: "profiles",
    app_label: "Profiles",
    name: "profile",
    verbose: "profile",
    plural: "profiles",
    columns: &["User", "Favorite city"],
    add_fields: FIELDS,
    change_fields: FIELDS,
    search_help: "username or favorite city",
    superuser_only: false,
};

type Boxed<'a> =
    diesel::helper_types::IntoBoxed<'a, diesel::helper_types::InnerJoin<profile::table, user::table>, MultiBackend>;

fn filtered(query: &ListQuery) -> Boxed<'static> {
    let mut sql: Boxed<'static> = profile::table.inner_join(user::table).into_boxed();
    if !query.search.trim().is_empty() {
        let pattern = query.pattern();
        sql = sql.filter(
            lower(user::username)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(profile::favorite_city).like(pattern).escape('\\')),
        );
    }
    sql
}

impl AdminModel for Profiles {
    fn meta(&self) -> &'static ModelMeta {
        &META
    }

    fn list(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<ListPage, DbError> {
        let total = filtered(query).count().get_result(conn)?;
        let sql = match query.sort {
            Some((0, false)) => filtered(query).order(user::username.asc()),
            Some((0, true)) => filtered(query).order(user::username.desc()),
            Some((1, false)) => filtered(query).order(profile::favorite_city.asc()),
            Some((1, true)) => filtered(query).order(profile::favorite_city.desc()),
            _ => filtered(query).order(profile::id.desc()),
        };
        let rows: Vec<(i32, String, String)> = sql
            .then_order_by(profile::id.desc())
            .limit(PER_PAGE)
            .offset(query.offset())
            .select((profile::id, user::username, profile::favorite_city))
            .load(conn)?;
        Ok(ListPage {
            total,
            rows: rows
                .into_iter()
                .map(|(id, username, city)| ListRow {
                    id,
                    cells: vec![username, city],
                })
                .collect(),
        })
    }

    fn load(&self, conn: &mut DbConnection, id: i32) -> Result<Option<Form>, DbError> {
        let row: Option<(i32, String)> = crate::db::first(
            profile::table
                .find(id)
                .select((profile::user_id, profile::favorite_city)),
            conn,
        )?;
        Ok(row.map(|(user_id, city)| {
            let mut form = Form::default();
            form.set("user", user_id.to_string());
            form.set("favorite_city", city);
            form
        }))
    }

    fn describe(&self, conn: &mut DbConnection, id: i32) -> Result<Option<String>, DbError> {
        crate::db::first(
            profile::table
                .inner_join(user::table)
                .filter(profile::id.eq(id))
                .select(user::username),
            conn,
        )
    }

    fn choices(&self, conn: &mut DbConnection) -> Result<Choices, DbError> {
        let users: Vec<(i32, String)> = user::table
            .order(user::username)
            .select((user::id, user::username))
            .load(conn)?;
        let options = users.into_iter().map(|(id, name)| (id.to_string(), name)).collect();
        Ok(BTreeMap::from([("user", options)]))
    }

    fn save(&self, conn: &mut DbConnection, id: Option<i32>, values: &Cleaned) -> Result<i32, SaveError> {
        let user_id = values.int("user");
        conn.transaction(|conn| {
            let exists: i64 = user::table.filter(user::id.eq(user_id)).count().get_result(conn)?;
            if exists == 0 {
                return Err(SaveError::Invalid(FormErrors::field(
                    "user",
                    "Select a valid choice. That choice is not one of the available choices.",
                )));
            }
            let changes = (
                profile::user_id.eq(user_id),
                profile::favorite_city.eq(values.text("favorite_city")),
            );
            let taken = |err| unique_violation(err, "user", "Profile with this User already exists.");
            match id {
                Some(id) => {
                    diesel::update(profile::table.find(id))
                        .set(changes)
                        .execute(conn)
                        .map_err(taken)?;
                    Ok(id)
                }
                None => Ok(diesel::insert_into(profile::table)
                    .values(changes)
                    .returning(profile::id)
                    .get_result(conn)
                    .map_err(taken)?),
            }
        })
    }

    fn delete(&self, conn: &mut DbConnection, id: i32) -> Result<bool, DbError> {
        Ok(diesel::delete(profile::table.find(id)).execute(conn)? > 0)
    }
}
