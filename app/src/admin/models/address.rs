//! Addresses in the admin.

use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::admin::model::{
    by, facets_of, in_search_index, lower, paginate, picked, AdminModel, Cascade, Counted, Facet, FilterKey,
    ListFilter, ListPage, ListQuery, ListRow, ModelMeta, SaveError, SearchIndex, SortKey,
};
use crate::db::connection::MultiBackend;
use crate::db::schema::{lettings_address as address, lettings_letting};
use crate::db::{DbConnection, DbError};
use crate::forms::{Cleaner, FieldKind, FieldSpec, Form, FormErrors};
use crate::lettings::model::Address;
use crate::value_counts;
use crate::{contains, ids};

pub struct Addresses;
pub static ADDRESSES: Addresses = Addresses;

const NUMBER: FieldSpec = FieldSpec {
    name: "number",
    label: "Number",
    kind: FieldKind::Integer { min: 0, max: 9999 },
    help: "",
};
const STREET: FieldSpec = FieldSpec {
    name: "street",
    label: "Street",
    kind: FieldKind::Text { min: 1, max: 64 },
    help: "",
};
const CITY: FieldSpec = FieldSpec {
    name: "city",
    label: "City",
    kind: FieldKind::Text { min: 1, max: 64 },
    help: "",
};
const STATE: FieldSpec = FieldSpec {
    name: "state",
    label: "State",
    kind: FieldKind::Letters { len: 2 },
    help: "Two letters, e.g. GA.",
};
const ZIP_CODE: FieldSpec = FieldSpec {
    name: "zip_code",
    label: "Zip code",
    kind: FieldKind::Integer { min: 0, max: 99999 },
    help: "",
};
const COUNTRY_ISO_CODE: FieldSpec = FieldSpec {
    name: "country_iso_code",
    label: "Country iso code",
    kind: FieldKind::Letters { len: 3 },
    help: "ISO 3166-1 alpha-3, e.g. USA.",
};
const FIELDS: &[FieldSpec] = &[NUMBER, STREET, CITY, STATE, ZIP_CODE, COUNTRY_ISO_CODE];

/// The address form, cleaned.
struct AddressForm {
    number: i32,
    street: String,
    city: String,
    state: String,
    zip_code: i32,
    country_iso_code: String,
}

impl AddressForm {
    fn clean(form: &Form) -> Result<Self, FormErrors> {
        let mut fields = Cleaner::new(form);
        let typed = AddressForm {
            number: fields.int(&NUMBER),
            street: fields.text(&STREET),
            city: fields.text(&CITY),
            state: fields.text(&STATE),
            zip_code: fields.int(&ZIP_CODE),
            country_iso_code: fields.text(&COUNTRY_ISO_CODE),
        };
        fields.finish(typed)
    }

    fn into_form(self) -> Form {
        let mut form = Form::default();
        form.set(NUMBER.name, self.number.to_string());
        form.set(STREET.name, self.street);
        form.set(CITY.name, self.city);
        form.set(STATE.name, self.state);
        form.set(ZIP_CODE.name, self.zip_code.to_string());
        form.set(COUNTRY_ISO_CODE.name, self.country_iso_code);
        form
    }
}

static META: ModelMeta = ModelMeta {
    app: "lettings",
    app_label: "Lettings",
    name: "address",
    verbose: "address",
    plural: "addresses",
    columns: &COLUMNS,
    add_fields: FIELDS,
    change_fields: FIELDS,
    search_help: "number, street, city, state, zip code or country",
    superuser_only: false,
    filters: &ADDRESS_FILTERS,
};

type Boxed<'a> = address::BoxedQuery<'a, MultiBackend>;

const ADDRESS_FILTERS: [ListFilter; 2] = [
    ListFilter {
        field: "state",
        title: "By state",
        choices: None,
    },
    ListFilter {
        field: "country_iso_code",
        title: "By country iso code",
        choices: None,
    },
];

/// The list page's columns; each sorts by its key in `SORT_KEYS` (one per column, or
/// the build fails).
const COLUMNS: [&str; 5] = ["Address", "City", "State", "Zip code", "Country iso code"];

const SORT_KEYS: [SortKey<Boxed<'static>>; COLUMNS.len()] = [
    |q, d| by(by(q, address::street, d), address::number, d),
    |q, d| by(q, address::city, d),
    |q, d| by(q, address::state, d),
    |q, d| by(q, address::zip_code, d),
    |q, d| by(q, address::country_iso_code, d),
];

type Condition = Box<dyn BoxableExpression<address::table, MultiBackend, SqlType = Bool>>;

/// Each filter's SQL, in `ADDRESS_FILTERS`' order.
const FILTER_KEYS: [FilterKey<Condition>; ADDRESS_FILTERS.len()] = [
    FilterKey {
        condition: |value| Box::new(address::state.eq(value)),
        counts: |conn, narrowed| Ok(value_counts!(conn, address::table, address::state, narrowed)?),
    },
    FilterKey {
        condition: |value| Box::new(address::country_iso_code.eq(value)),
        counts: |conn, narrowed| {
            Ok(value_counts!(
                conn,
                address::table,
                address::country_iso_code,
                narrowed
            )?)
        },
    },
];

/// What narrows the list: its search, and each filter picked.
fn conditions(query: &ListQuery) -> Vec<Condition> {
    let mut conditions: Vec<Condition> = Vec::new();
    if !query.search.trim().is_empty() {
        let number = query.search.trim().parse::<i32>().unwrap_or(-1);
        let numbers = address::number.eq(number).or(address::zip_code.eq(number));
        let words = match in_search_index(
            query,
            "lettings_address.id",
            &[SearchIndex::of("lettings_address", None)],
        ) {
            Some(indexed) => indexed,
            None if query.like_through_index() => {
                let pattern = query.pattern();
                Box::new(
                    lower(address::street)
                        .like(pattern.clone())
                        .escape('\\')
                        .or(lower(address::city).like(pattern.clone()).escape('\\'))
                        .or(lower(address::state).like(pattern.clone()).escape('\\'))
                        .or(lower(address::country_iso_code).like(pattern).escape('\\')),
                )
            }
            None => Box::new(
                contains!(query, address::street)
                    .or(contains!(query, address::city))
                    .or(contains!(query, address::state))
                    .or(contains!(query, address::country_iso_code)),
            ),
        };
        conditions.push(Box::new(words.or(numbers)));
    }
    conditions.extend(picked(query, &ADDRESS_FILTERS, &FILTER_KEYS));
    conditions
}

fn filtered(query: &ListQuery) -> Boxed<'static> {
    conditions(query)
        .into_iter()
        .fold(address::table.into_boxed(), |sql, condition| sql.filter(condition))
}

impl AdminModel for Addresses {
    fn meta(&self) -> &'static ModelMeta {
        &META
    }

    fn list(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<ListPage, DbError> {
        paginate(
            conn,
            query,
            filtered,
            &SORT_KEYS,
            ids!(address::table, address::id),
            Counted::table("lettings_address"),
            |conn, page| {
                let rows: Vec<Address> = page.select(Address::as_select()).load(conn)?;
                Ok(rows
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
                    .collect())
            },
        )
    }

    fn load(&self, conn: &mut DbConnection, id: i32) -> Result<Option<Form>, DbError> {
        let row: Option<Address> = crate::db::first(address::table.find(id).select(Address::as_select()), conn)?;
        Ok(row.map(|a| {
            AddressForm {
                number: a.number,
                street: a.street,
                city: a.city,
                state: a.state,
                zip_code: a.zip_code,
                country_iso_code: a.country_iso_code,
            }
            .into_form()
        }))
    }

    fn describe(&self, conn: &mut DbConnection, id: i32) -> Result<Option<String>, DbError> {
        let row: Option<Address> = crate::db::first(address::table.find(id).select(Address::as_select()), conn)?;
        Ok(row.map(|a| a.to_string()))
    }

    fn save(&self, conn: &mut DbConnection, id: Option<i32>, form: &Form) -> Result<i32, SaveError> {
        let values = AddressForm::clean(form).map_err(SaveError::Invalid)?;
        let changes = (
            address::number.eq(values.number),
            address::street.eq(&values.street),
            address::city.eq(&values.city),
            address::state.eq(&values.state),
            address::zip_code.eq(values.zip_code),
            address::country_iso_code.eq(&values.country_iso_code),
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

    fn cascades(&self, conn: &mut DbConnection, id: i32) -> Result<Vec<Cascade>, DbError> {
        let lettings: Vec<(i32, String)> = lettings_letting::table
            .filter(lettings_letting::address_id.eq(id))
            .select((lettings_letting::id, lettings_letting::title))
            .load(conn)?;
        Ok(lettings
            .into_iter()
            .map(|(letting, t)| Cascade {
                label: format!("Letting: {t}"),
                model: Some(("lettings", "letting")),
                row: Some((letting, t)),
            })
            .collect())
    }

    fn delete(&self, conn: &mut DbConnection, id: i32) -> Result<bool, DbError> {
        Ok(diesel::delete(address::table.find(id)).execute(conn)? > 0)
    }

    fn lookup(
        &self,
        conn: &mut DbConnection,
        query: &ListQuery,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<(i32, String)>, DbError> {
        let rows: Vec<Address> = filtered(query)
            .order(address::id)
            .limit(limit)
            .offset(offset)
            .select(Address::as_select())
            .load(conn)?;
        Ok(rows.into_iter().map(|a| (a.id, a.to_string())).collect())
    }

    fn facets(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<Vec<Facet>, DbError> {
        facets_of(
            conn,
            query,
            "lettings_address",
            &ADDRESS_FILTERS,
            &FILTER_KEYS,
            conditions,
        )
    }
}
