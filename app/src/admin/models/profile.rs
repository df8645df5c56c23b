//! Profiles in the admin.

use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::admin::model::{
    by, facets_of, in_joined_search, in_search_index, invalid_choice, paginate, picked, unique_violation, AdminModel,
    Counted, Facet, FilterKey, ListFilter, ListPage, ListQuery, ListRow, ModelMeta, SaveError, SearchIndex, SortKey,
};
use crate::db::connection::MultiBackend;
use crate::db::schema::{auth_user as user, profiles_profile as profile};
use crate::db::{DbConnection, DbError};
use crate::forms::{Cleaner, FieldKind, FieldSpec, Form, FormErrors};
use crate::value_counts;
use crate::{contains, ids};

pub struct Profiles;
pub static PROFILES: Profiles = Profiles;

const USER: FieldSpec = FieldSpec {
    name: "user",
    label: "User",
    kind: FieldKind::ForeignKey {
        app: "auth",
        model: "user",
    },
    help: "Each user has at most one profile.",
};
const FAVORITE_CITY: FieldSpec = FieldSpec {
    name: "favorite_city",
    label: "Favorite city",
    kind: FieldKind::Text { min: 0, max: 64 },
    help: "",
};
const FIELDS: &[FieldSpec] = &[USER, FAVORITE_CITY];

/// The profile form, cleaned.
struct ProfileForm {
    user: i32,
    favorite_city: String,
}

impl ProfileForm {
    fn clean(form: &Form) -> Result<Self, FormErrors> {
        let mut fields = Cleaner::new(form);
        let user = fields.int(&USER);
        let favorite_city = fields.text(&FAVORITE_CITY);
        fields.finish(ProfileForm { user, favorite_city })
    }

    fn into_form(self) -> Form {
        let mut form = Form::default();
        form.set(USER.name, self.user.to_string());
        form.set(FAVORITE_CITY.name, self.favorite_city);
        form
    }
}

static META: ModelMeta = ModelMeta {
    app: "profiles",
    app_label: "Profiles",
    name: "profile",
    verbose: "profile",
    plural: "profiles",
    columns: &COLUMNS,
    add_fields: FIELDS,
    change_fields: FIELDS,
    search_help: "username or favorite city",
    superuser_only: false,
    filters: &PROFILE_FILTERS,
};

type Boxed<'a> =
    diesel::helper_types::IntoBoxed<'a, diesel::helper_types::InnerJoin<profile::table, user::table>, MultiBackend>;

/// The list page's columns; each sorts by its key in `SORT_KEYS` (one per column, or
/// the build fails).
const COLUMNS: [&str; 2] = ["User", "Favorite city"];

const PROFILE_FILTERS: [ListFilter; 1] = [ListFilter {
    field: "favorite_city",
    title: "By favorite city",
    choices: None,
}];

const SORT_KEYS: [SortKey<Boxed<'static>>; COLUMNS.len()] =
    [|q, d| by(q, user::username, d), |q, d| by(q, profile::favorite_city, d)];

type Joined = diesel::helper_types::InnerJoinQuerySource<profile::table, user::table>;
type Condition = Box<dyn BoxableExpression<Joined, MultiBackend, SqlType = Bool>>;

/// Each filter's SQL, in `PROFILE_FILTERS`' order.
const FILTER_KEYS: [FilterKey<Condition>; PROFILE_FILTERS.len()] = [FilterKey {
    condition: |value| Box::new(profile::favorite_city.eq(value)),
    // Joined to the users only when a search needs their names.
    counts: |conn, narrowed| {
        Ok(if narrowed.is_empty() {
            let none: Vec<Box<dyn BoxableExpression<profile::table, MultiBackend, SqlType = Bool>>> = Vec::new();
            value_counts!(conn, profile::table, profile::favorite_city, none)?
        } else {
            value_counts!(
                conn,
                profile::table.inner_join(user::table),
                profile::favorite_city,
                narrowed
            )?
        })
    },
}];

/// The profiles whose favourite city or user's username holds the search term.
const SEARCH: [SearchIndex; 2] = [
    SearchIndex::of("profiles_profile", None),
    SearchIndex::through("auth_user", "username", "profiles_profile", "user_id"),
];

/// What narrows the list: its search, and the favourite city picked.
fn conditions(query: &ListQuery) -> Vec<Condition> {
    let mut conditions: Vec<Condition> = Vec::new();
    if !query.search.trim().is_empty() {
        conditions.push(match in_search_index(query, "profiles_profile.id", &SEARCH) {
            Some(indexed) => indexed,
            None if query.like_through_index() => in_joined_search(
                query,
                ("profiles_profile", "favorite_city"),
                "user_id",
                ("auth_user", "username"),
            ),
            None => Box::new(contains!(query, user::username).or(contains!(query, profile::favorite_city))),
        });
    }
    conditions.extend(picked(query, &PROFILE_FILTERS, &FILTER_KEYS));
    conditions
}

fn filtered(query: &ListQuery) -> Boxed<'static> {
    conditions(query)
        .into_iter()
        .fold(profile::table.inner_join(user::table).into_boxed(), |sql, condition| {
            sql.filter(condition)
        })
}

/// The profiles of the city picked, counted in their own table (its city index), not
/// through the join with every user (60 ms of SQLite's at a million).
fn count_by_city(conn: &mut DbConnection, query: &ListQuery) -> Result<i64, DbError> {
    let mut sql = profile::table.into_boxed::<MultiBackend>();
    if let Some(city) = query.filter(PROFILE_FILTERS[0].field) {
        sql = sql.filter(profile::favorite_city.eq(city.to_owned()));
    }
    Ok(sql.count().get_result(conn)?)
}

impl AdminModel for Profiles {
    fn meta(&self) -> &'static ModelMeta {
        &META
    }

    fn list(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<ListPage, DbError> {
        paginate(
            conn,
            query,
            filtered,
            &SORT_KEYS,
            ids!(profile::table, profile::id),
            Counted {
                table: "profiles_profile",
                filtered: Some(count_by_city),
            },
            |conn, page| {
                let rows: Vec<(i32, String, String)> = page
                    .select((profile::id, user::username, profile::favorite_city))
                    .load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, username, city)| ListRow {
                        id,
                        cells: vec![username, city],
                    })
                    .collect())
            },
        )
    }

    fn load(&self, conn: &mut DbConnection, id: i32) -> Result<Option<Form>, DbError> {
        let row: Option<(i32, String)> = crate::db::first(
            profile::table
                .find(id)
                .select((profile::user_id, profile::favorite_city)),
            conn,
        )?;
        Ok(row.map(|(user, favorite_city)| ProfileForm { user, favorite_city }.into_form()))
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

    /// The profile's public page, `/profiles/<username>/`.
    fn site_url(&self, conn: &mut DbConnection, id: i32) -> Result<Option<String>, DbError> {
        Ok(self
            .describe(conn, id)?
            .map(|username| crate::profiles::model::profile_url(&username)))
    }

    fn save(&self, conn: &mut DbConnection, id: Option<i32>, form: &Form) -> Result<i32, SaveError> {
        let values = ProfileForm::clean(form).map_err(SaveError::Invalid)?;
        conn.transaction(|conn| {
            let exists: i64 = user::table.filter(user::id.eq(values.user)).count().get_result(conn)?;
            if exists == 0 {
                return Err(invalid_choice(USER.name));
            }
            let changes = (
                profile::user_id.eq(values.user),
                profile::favorite_city.eq(&values.favorite_city),
            );
            let taken = |err| unique_violation(err, USER.name, "Profile with this User already exists.");
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

    fn facets(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<Vec<Facet>, DbError> {
        facets_of(
            conn,
            query,
            "profiles_profile",
            &PROFILE_FILTERS,
            &FILTER_KEYS,
            conditions,
        )
    }
}
