//! Lettings in the admin.

use std::collections::BTreeMap;

use diesel::prelude::*;

use crate::admin::model::{
    lower, unique_violation, AdminModel, ListPage, ListQuery, ListRow, ModelMeta, SaveError, PER_PAGE,
};
use crate::db::connection::MultiBackend;
use crate::db::schema::{lettings_address as address, lettings_letting as letting};
use crate::db::{DbConnection, DbError};
use crate::forms::{Choices, Cleaned, FieldKind, FieldSpec, Form, FormErrors};
use crate::lettings::model::Address;

pub struct Lettings;
pub static LETTINGS: Lettings = Lettings;

const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "title",
        label: "Title",
        kind: FieldKind::Text { min: 1, max: 256 },
        help: "",
    },
    FieldSpec {
        name: "address",
        label: "Address",
        kind: FieldKind::Choice,
        help: "Each address has at most one letting.",
    },
];

static META: ModelMeta = ModelMeta {
    app: "lettings",
    app_label: "Lettings",
    name: "letting",
    verbose: "letting",
    plural: "lettings",
    columns: &["Title", "Address"],
    add_fields: FIELDS,
    change_fields: FIELDS,
    search_help: "title or street",
    superuser_only: false,
};

type Boxed<'a> =
    diesel::helper_types::IntoBoxed<'a, diesel::helper_types::InnerJoin<letting::table, address::table>, MultiBackend>;

fn filtered(query: &ListQuery) -> Boxed<'static> {
    let mut sql: Boxed<'static> = letting::table.inner_join(address::table).into_boxed();
    if !query.search.trim().is_empty() {
        let pattern = query.pattern();
        sql = sql.filter(
            lower(letting::title)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(address::street).like(pattern).escape('\\')),
        );
    }
    sql
}

impl AdminModel for Lettings {
    fn meta(&self) -> &'static ModelMeta {
        &META
    }

    fn list(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<ListPage, DbError> {
        let total = filtered(query).count().get_result(conn)?;
        let sql = match query.sort {
            Some((0, false)) => filtered(query).order(letting::title.asc()),
            Some((0, true)) => filtered(query).order(letting::title.desc()),
            Some((1, false)) => filtered(query).order((address::street.asc(), address::number.asc())),
            Some((1, true)) => filtered(query).order((address::street.desc(), address::number.desc())),
            _ => filtered(query).order(letting::id.desc()),
        };
        let rows: Vec<(i32, String, Address)> = sql
            .then_order_by(letting::id.desc())
            .limit(PER_PAGE)
            .offset(query.offset())
            .select((letting::id, letting::title, Address::as_select()))
            .load(conn)?;
        Ok(ListPage {
            total,
            rows: rows
                .into_iter()
                .map(|(id, title, a)| ListRow {
                    id,
                    cells: vec![title, a.to_string()],
                })
                .collect(),
        })
    }

    fn load(&self, conn: &mut DbConnection, id: i32) -> Result<Option<Form>, DbError> {
        let row: Option<(String, i32)> = crate::db::first(
            letting::table.find(id).select((letting::title, letting::address_id)),
            conn,
        )?;
        Ok(row.map(|(title, address_id)| {
            let mut form = Form::default();
            form.set("title", title);
            form.set("address", address_id.to_string());
            form
        }))
    }

    fn describe(&self, conn: &mut DbConnection, id: i32) -> Result<Option<String>, DbError> {
        crate::db::first(letting::table.find(id).select(letting::title), conn)
    }

    fn choices(&self, conn: &mut DbConnection) -> Result<Choices, DbError> {
        let addresses: Vec<Address> = address::table
            .order(address::id)
            .select(Address::as_select())
            .load(conn)?;
        let options = addresses
            .into_iter()
            .map(|a| (a.id.to_string(), a.to_string()))
            .collect();
        Ok(BTreeMap::from([("address", options)]))
    }

    fn save(&self, conn: &mut DbConnection, id: Option<i32>, values: &Cleaned) -> Result<i32, SaveError> {
        let address_id = values.int("address");
        conn.transaction(|conn| {
            let exists: i64 = address::table
                .filter(address::id.eq(address_id))
                .count()
                .get_result(conn)?;
            if exists == 0 {
                return Err(SaveError::Invalid(FormErrors::field(
                    "address",
                    "Select a valid choice. That choice is not one of the available choices.",
                )));
            }
            let changes = (
                letting::title.eq(values.text("title")),
                letting::address_id.eq(address_id),
            );
            let taken = |err| unique_violation(err, "address", "Letting with this Address already exists.");
            match id {
                Some(id) => {
                    diesel::update(letting::table.find(id))
                        .set(changes)
                        .execute(conn)
                        .map_err(taken)?;
                    Ok(id)
                }
                None => Ok(diesel::insert_into(letting::table)
                    .values(changes)
                    .returning(letting::id)
                    .get_result(conn)
                    .map_err(taken)?),
            }
        })
    }

    fn delete(&self, conn: &mut DbConnection, id: i32) -> Result<bool, DbError> {
        Ok(diesel::delete(letting::table.find(id)).execute(conn)? > 0)
    }
}
