//! Addresses in the admin.

use diesel::prelude::*;

use crate::admin::model::{lower, AdminModel, ListPage, ListQuery, ListRow, ModelMeta, SaveError, PER_PAGE};
use crate::db::connection::MultiBackend;
use crate::db::schema::{lettings_address as address, lettings_letting};
use crate::db::{DbConnection, DbError};
use crate::forms::{Cleaned, FieldKind, FieldSpec, Form};
use crate::lettings::model::Address;

pub struct Addresses;
pub static ADDRESSES: Addresses = Addresses;

const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "number",
        label: "Number",
        kind: FieldKind::Integer { min: 0, max: 9999 },
        help: "",
    },
    FieldSpec {
        name: "street",
        label: "Street",
        kind: FieldKind::Text { min: 1, max: 64 },
        help: "",
    },
    FieldSpec {
        name: "city",
        label: "City",
        kind: FieldKind::Text { min: 1, max: 64 },
        help: "",
    },
    FieldSpec {
        name: "state",
        label: "State",
        kind: FieldKind::Letters { len: 2 },
        help: "Two letters, e.g. GA.",
    },
    FieldSpec {
        name: "zip_code",
        label: "Zip code",
        kind: FieldKind::Integer { min: 0, max: 99999 },
        help: "",
    },
    FieldSpec {
        name: "country_iso_code",
        label: "Country iso code",
        kind: FieldKind::Letters { len: 3 },
        help: "ISO 3166-1 alpha-3, e.g. USA.",
    },
];

static META: ModelMeta = ModelMeta {
    app: "lettings",
    app_label: "Lettings",
    name: "address",
    verbose: "address",
    plural: "addresses",
    columns: &["Address", "City", "State", "Zip code", "Country iso code"],
    add_fields: FIELDS,
    change_fields: FIELDS,
    search_help: "number, street, city, state, zip code or country",
    superuser_only: false,
};

type Boxed<'a> = address::BoxedQuery<'a, MultiBackend>;

fn filtered(query: &ListQuery) -> Boxed<'static> {
    let mut sql: Boxed<'static> = address::table.into_boxed();
    if !query.search.trim().is_empty() {
        let pattern = query.pattern();
        let number = query.search.trim().parse::<i32>().unwrap_or(-1);
        sql = sql.filter(
            lower(address::street)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(address::city).like(pattern.clone()).escape('\\'))
                .or(lower(address::state).like(pattern.clone()).escape('\\'))
                .or(lower(address::country_iso_code).like(pattern).escape('\\'))
                .or(address::number.eq(number))
                .or(address::zip_code.eq(number)),
        );
    }
    sql
}

impl AdminModel for Addresses {
    fn meta(&self) -> &'static ModelMeta {
        &META
    }

    fn list(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<ListPage, DbError> {
        let total = filtered(query).count().get_result(conn)?;
        let sql = filtered(query);
        let sql = match query.sort {
            Some((0, false)) => sql.order((address::street.asc(), address::number.asc())),
            Some((0, true)) => sql.order((address::street.desc(), address::number.desc())),
            Some((1, false)) => sql.order(address::city.asc()),
            Some((1, true)) => sql.order(address::city.desc()),
            Some((2, false)) => sql.order(address::state.asc()),
            Some((2, true)) => sql.order(address::state.desc()),
            Some((3, false)) => sql.order(address::zip_code.asc()),
            Some((3, true)) => sql.order(address::zip_code.desc()),
            Some((4, false)) => sql.order(address::country_iso_code.asc()),
            Some((4, true)) => sql.order(address::country_iso_code.desc()),
            _ => sql.order(address::id.desc()),
        };
        let rows: Vec<Address> = sql
            .then_order_by(address::id.desc())
            .limit(PER_PAGE)
            .offset(query.offset())
            .select(Address::as_select())
            .load(conn)?;
        Ok(ListPage {
            total,
            rows: rows
                .into_iter()
                .map(|a| ListRow {
                    id: a.id,
                    cells: vec![
                        a.to_string(),
                        a.city,
                        a.state,
                        a.zip_code.to_string(),
                        a.country_iso_code,
                    ],
                })
                .collect(),
        })
    }

    fn load(&self, conn: &mut DbConnection, id: i32) -> Result<Option<Form>, DbError> {
        let row: Option<Address> = crate::db::first(address::table.find(id).select(Address::as_select()), conn)?;
        Ok(row.map(|a| {
            let mut form = Form::default();
            form.set("number", a.number.to_string());
            form.set("street", a.street);
            form.set("city", a.city);
            form.set("state", a.state);
            form.set("zip_code", a.zip_code.to_string());
            form.set("country_iso_code", a.country_iso_code);
            form
        }))
    }

    fn describe(&self, conn: &mut DbConnection, id: i32) -> Result<Option<String>, DbError> {
        let row: Option<Address> = crate::db::first(address::table.find(id).select(Address::as_select()), conn)?;
        Ok(row.map(|a| a.to_string()))
    }

    fn save(&self, conn: &mut DbConnection, id: Option<i32>, values: &Cleaned) -> Result<i32, SaveError> {
        let changes = (
            address::number.eq(values.int("number")),
            address::street.eq(values.text("street")),
            address::city.eq(values.text("city")),
            address::state.eq(values.text("state")),
            address::zip_code.eq(values.int("zip_code")),
            address::country_iso_code.eq(values.text("country_iso_code")),
        );
        match id {
            Some(id) => {
                diesel::update(address::table.find(id)).set(changes).execute(conn)?;
                Ok(id)
            }
            None => Ok(diesel::insert_into(address::table)
                .values(changes)
                .returning(address::id)
                .get_result(conn)?),
        }
    }

    fn cascades(&self, conn: &mut DbConnection, id: i32) -> Result<Vec<String>, DbError> {
        let titles: Vec<String> = lettings_letting::table
            .filter(lettings_letting::address_id.eq(id))
            .select(lettings_letting::title)
            .load(conn)?;
        Ok(titles.into_iter().map(|t| format!("Letting: {t}")).collect())
    }

    fn delete(&self, conn: &mut DbConnection, id: i32) -> Result<bool, DbError> {
        Ok(diesel::delete(address::table.find(id)).execute(conn)? > 0)
    }
}
