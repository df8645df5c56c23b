//! Lettings in the admin.

use diesel::prelude::*;

use crate::admin::model::{
    by, in_joined_search, in_search_index, invalid_choice, paginate, unique_violation, AdminModel, Counted, Inline,
    ListPage, ListQuery, ListRow, ModelMeta, SaveError, SearchIndex, SortKey,
};
use crate::db::connection::MultiBackend;
use crate::db::schema::{lettings_address as address, lettings_letting as letting};
use crate::db::{DbConnection, DbError};
use crate::forms::{Cleaner, FieldKind, FieldSpec, Form, FormErrors};
use crate::lettings::model::Address;
use crate::{contains, ids};

pub struct Lettings;
pub static LETTINGS: Lettings = Lettings;

const TITLE: FieldSpec = FieldSpec {
    name: "title",
    label: "Title",
    kind: FieldKind::Text { min: 1, max: 256 },
    help: "",
};
const ADDRESS: FieldSpec = FieldSpec {
    name: "address",
    label: "Address",
    kind: FieldKind::ForeignKey {
        app: "lettings",
        model: "address",
    },
    help: "Each address has at most one letting.",
};

/// The letting's address on its own form: a new one with a new letting, its own on the
/// change form (Django's `StackedInline`).
static ADDRESS_INLINE: Inline = Inline {
    field: "address",
    app: "lettings",
    model: "address",
};
const FIELDS: &[FieldSpec] = &[TITLE, ADDRESS];

/// The letting form, cleaned.
struct LettingForm {
    title: String,
    address: i32,
}

impl LettingForm {
    fn clean(form: &Form) -> Result<Self, FormErrors> {
        let mut fields = Cleaner::new(form);
        let title = fields.text(&TITLE);
        let address = fields.int(&ADDRESS);
        fields.finish(LettingForm { title, address })
    }

    fn into_form(self) -> Form {
        let mut form = Form::default();
        form.set(TITLE.name, self.title);
        form.set(ADDRESS.name, self.address.to_string());
        form
    }
}

static META: ModelMeta = ModelMeta {
    app: "lettings",
    app_label: "Lettings",
    name: "letting",
    verbose: "letting",
    plural: "lettings",
    columns: &COLUMNS,
    add_fields: FIELDS,
    change_fields: FIELDS,
    search_help: "title or street",
    superuser_only: false,
    filters: &[],
};

type Boxed<'a> =
    diesel::helper_types::IntoBoxed<'a, diesel::helper_types::InnerJoin<letting::table, address::table>, MultiBackend>;

/// The list page's columns; each sorts by its key in `SORT_KEYS` (one per column, or
/// the build fails).
const COLUMNS: [&str; 2] = ["Title", "Address"];

const SORT_KEYS: [SortKey<Boxed<'static>>; COLUMNS.len()] = [
    |q, d| by(q, letting::title, d),
    |q, d| by(by(q, address::street, d), address::number, d),
];

/// The lettings whose title or address's street holds the search term.
const SEARCH: [SearchIndex; 2] = [
    SearchIndex::of("lettings_letting", None),
    SearchIndex::through("lettings_address", "street", "lettings_letting", "address_id"),
];

fn filtered(query: &ListQuery) -> Boxed<'static> {
    let sql: Boxed<'static> = letting::table.inner_join(address::table).into_boxed();
    if !query.is_searching() {
        return sql;
    }
    match in_search_index(query, "lettings_letting.id", &SEARCH) {
        Some(indexed) => sql.filter(indexed),
        None if query.like_through_index() => sql.filter(in_joined_search(
            query,
            ("lettings_letting", "title"),
            "address_id",
            ("lettings_address", "street"),
        )),
        None => sql.filter(contains!(query, letting::title).or(contains!(query, address::street))),
    }
}

impl AdminModel for Lettings {
    fn meta(&self) -> &'static ModelMeta {
        &META
    }

    fn inline(&self) -> Option<&'static Inline> {
        Some(&ADDRESS_INLINE)
    }

    fn list(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<ListPage, DbError> {
        paginate(
            conn,
            query,
            filtered,
            &SORT_KEYS,
            ids!(letting::table, letting::id),
            Counted::table("lettings_letting"),
            |conn, page| {
                let rows: Vec<(i32, String, Address)> = page
                    .select((letting::id, letting::title, Address::as_select()))
                    .load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, title, a)| ListRow {
                        id,
                        cells: vec![title, a.to_string()],
                    })
                    .collect())
            },
        )
    }

    fn load(&self, conn: &mut DbConnection, id: i32) -> Result<Option<Form>, DbError> {
        let row: Option<(String, i32)> = crate::db::first(
            letting::table.find(id).select((letting::title, letting::address_id)),
            conn,
        )?;
        Ok(row.map(|(title, address)| LettingForm { title, address }.into_form()))
    }

    fn describe(&self, conn: &mut DbConnection, id: i32) -> Result<Option<String>, DbError> {
        crate::db::first(letting::table.find(id).select(letting::title), conn)
    }

    /// The letting's public page, `/lettings/<id>/`.
    fn site_url(&self, conn: &mut DbConnection, id: i32) -> Result<Option<String>, DbError> {
        Ok(self.describe(conn, id)?.map(|_| format!("/lettings/{id}/")))
    }

    fn save(&self, conn: &mut DbConnection, id: Option<i32>, form: &Form) -> Result<i32, SaveError> {
        let values = LettingForm::clean(form).map_err(SaveError::Invalid)?;
        conn.transaction(|conn| {
            let exists: i64 = address::table
                .filter(address::id.eq(values.address))
                .count()
                .get_result(conn)?;
            if exists == 0 {
                return Err(invalid_choice(ADDRESS.name));
            }
            let changes = (letting::title.eq(&values.title), letting::address_id.eq(values.address));
            let taken = |err| unique_violation(err, ADDRESS.name, "Letting with this Address already exists.");
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
