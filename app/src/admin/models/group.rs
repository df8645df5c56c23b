//! Groups in the admin (superusers only): a name and the permissions every member gets.

use diesel::prelude::*;

use crate::admin::model::{
    by, lower, paginate, unique_violation, AdminModel, Cascade, Counted, ListPage, ListQuery, ListRow, ModelMeta,
    SaveError, SortKey,
};
use crate::admin::permissions;
use crate::db::connection::MultiBackend;
use crate::db::schema::{auth_group as group, auth_user, auth_user_groups};
use crate::db::{DbConnection, DbError};
use crate::forms::{Choices, Cleaner, FieldKind, FieldSpec, Form, FormErrors};
use crate::ids;

pub struct Groups;
pub static GROUPS: Groups = Groups;

const NAME: FieldSpec = FieldSpec {
    name: "name",
    label: "Name",
    kind: FieldKind::Text { min: 1, max: 150 },
    help: "",
};
const PERMISSIONS: FieldSpec = FieldSpec {
    name: "permissions",
    label: "Permissions",
    kind: FieldKind::MultipleChoice,
    help: "Every member of the group has these.",
};
const FIELDS: &[FieldSpec] = &[NAME, PERMISSIONS];

/// The group form, cleaned.
struct GroupForm {
    name: String,
    permissions: Vec<String>,
}

impl GroupForm {
    fn clean(form: &Form) -> Result<Self, FormErrors> {
        let mut fields = Cleaner::new(form);
        let name = fields.text(&NAME);
        let permissions = fields.list(&PERMISSIONS);
        if let Some(unknown) = permissions.iter().find(|p| !permissions::is_known(p)) {
            fields.reject(&PERMISSIONS, crate::forms::not_a_choice(unknown));
        }
        fields.finish(GroupForm { name, permissions })
    }
}

static META: ModelMeta = ModelMeta {
    app: "auth",
    app_label: "Authentication and authorization",
    name: "group",
    verbose: "group",
    plural: "groups",
    columns: &COLUMNS,
    add_fields: FIELDS,
    change_fields: FIELDS,
    search_help: "name",
    superuser_only: true,
    filters: &[],
};

type Boxed<'a> = group::BoxedQuery<'a, MultiBackend>;

const COLUMNS: [&str; 1] = ["Name"];

const SORT_KEYS: [SortKey<Boxed<'static>>; COLUMNS.len()] = [|q, d| by(q, group::name, d)];

fn filtered(query: &ListQuery) -> Boxed<'static> {
    let mut sql: Boxed<'static> = group::table.into_boxed();
    if !query.search.trim().is_empty() {
        sql = sql.filter(lower(group::name).like(query.pattern()).escape('\\'));
    }
    sql
}

const TAKEN: &str = "Group with this Name already exists.";

impl AdminModel for Groups {
    fn meta(&self) -> &'static ModelMeta {
        &META
    }

    fn list(&self, conn: &mut DbConnection, query: &ListQuery) -> Result<ListPage, DbError> {
        paginate(
            conn,
            query,
            filtered,
            &SORT_KEYS,
            ids!(group::table, group::id),
            Counted::table("auth_group"),
            |conn, page| {
                let rows: Vec<(i32, String)> = page.select((group::id, group::name)).load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, name)| ListRow { id, cells: vec![name] })
                    .collect())
            },
        )
    }

    fn load(&self, conn: &mut DbConnection, id: i32) -> Result<Option<Form>, DbError> {
        let Some(name) = self.describe(conn, id)? else {
            return Ok(None);
        };
        let mut form = Form::default();
        form.set(NAME.name, name);
        form.set_all(PERMISSIONS.name, permissions::of_group(conn, id)?);
        Ok(Some(form))
    }

    fn describe(&self, conn: &mut DbConnection, id: i32) -> Result<Option<String>, DbError> {
        crate::db::first(group::table.find(id).select(group::name), conn)
    }

    fn choices(&self, _conn: &mut DbConnection) -> Result<Choices, DbError> {
        Ok(Choices::from([(PERMISSIONS.name, permissions::choices())]))
    }

    fn save(&self, conn: &mut DbConnection, id: Option<i32>, form: &Form) -> Result<i32, SaveError> {
        let values = GroupForm::clean(form).map_err(SaveError::Invalid)?;
        let taken = |err| unique_violation(err, NAME.name, TAKEN);
        let id = match id {
            Some(id) => {
                diesel::update(group::table.find(id))
                    .set(group::name.eq(&values.name))
                    .execute(conn)
                    .map_err(taken)?;
                id
            }
            None => diesel::insert_into(group::table)
                .values(group::name.eq(&values.name))
                .returning(group::id)
                .get_result(conn)
                .map_err(taken)?,
        };
        permissions::set_for_group(conn, id, &values.permissions)?;
        Ok(id)
    }

    fn cascades(&self, conn: &mut DbConnection, id: i32) -> Result<Vec<Cascade>, DbError> {
        let members: Vec<String> = auth_user_groups::table
            .inner_join(auth_user::table)
            .filter(auth_user_groups::group_id.eq(id))
            .select(auth_user::username)
            .order(auth_user::username)
            .load(conn)?;
        Ok(members
            .into_iter()
            .map(|name| Cascade {
                label: format!("Membership of user “{name}” (the user stays)"),
                model: None,
                row: None,
            })
            .collect())
    }

    fn delete(&self, conn: &mut DbConnection, id: i32) -> Result<bool, DbError> {
        Ok(diesel::delete(group::table.find(id)).execute(conn)? > 0)
    }
}
