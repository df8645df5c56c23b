//! A related row edited on its parent's form (Django's `StackedInline`), for a model whose
//! [`AdminModel::inline`] names one: the letting's address. On the add form, a new row made
//! with the parent and chosen by it; on the change form, the row the parent has, its
//! values shown and saved with the parent. Its inputs are `<field>-0-<name>` (Django's
//! formset prefix, `address-0-street`), plus `<field>-0-id` for the row shown. It is
//! offered, and read, only when the viewer may add (or change) the related model, and it
//! is saved inside the parent's transaction, with its own history entry: the address and
//! the letting are both saved, or neither is.

use serde::Serialize;

use super::history;
use super::model::{find, AdminModel, Inline, SaveError};
use super::permissions::Action;
use super::session::StaffSession;
use crate::db::{DbConnection, DbError};
use crate::forms::{field_views, Choices, FieldSpec, FieldView, Form, FormErrors};
use crate::ids::parse_id;

/// The inline's fieldset, as the form template draws it.
#[derive(Debug, Serialize)]
pub struct InlineView {
    /// "Address".
    pub title: String,
    /// `address-0-`.
    pub prefix: String,
    /// The row shown (a change form's), as its hidden id.
    pub id: String,
    pub fields: Vec<FieldView>,
}

/// The model's inline and the related model, when `staff` may use it on this form: add
/// the related model on an add form, change it on a change form.
pub fn usable(
    staff: &StaffSession,
    model: &dyn AdminModel,
    adding: bool,
) -> Option<(&'static Inline, &'static dyn AdminModel)> {
    let inline = model.inline()?;
    let related = find(inline.app, inline.model)?;
    let need = if adding { Action::Add } else { Action::Change };
    staff.permissions.may(related.meta(), need).then_some((inline, related))
}

/// A posted form without the inline's values when `staff` may not use it: they are never
/// read, whatever was sent.
pub fn only_usable(staff: &StaffSession, model: &dyn AdminModel, adding: bool, form: &Form) -> Form {
    let mut form = form.clone();
    if let (Some(inline), None) = (model.inline(), usable(staff, model, adding)) {
        form.drop_prefixed(&inline.prefix());
    }
    form
}

fn specs(related: &dyn AdminModel, adding: bool) -> &'static [FieldSpec] {
    if adding {
        related.meta().add_fields
    } else {
        related.meta().change_fields
    }
}

/// The fieldset for `form` (its inline values) and `errors` (those under the prefix).
pub fn view(
    inline: &Inline,
    related: &dyn AdminModel,
    adding: bool,
    form: &Form,
    errors: &FormErrors,
    choices: &Choices,
) -> InlineView {
    let prefix = inline.prefix();
    let values = form.prefixed(&prefix);
    InlineView {
        title: super::views::capfirst(related.meta().verbose),
        id: values.get("id").to_owned(),
        fields: field_views(specs(related, adding), &values, &errors.under(&prefix), choices),
        prefix,
    }
}

/// A change form's inline values: the row the parent's foreign key names, under the
/// prefix, with its id.
pub fn load(
    conn: &mut DbConnection,
    inline: &Inline,
    related: &dyn AdminModel,
    form: &mut Form,
) -> Result<(), DbError> {
    let Some(id) = parse_id(form.get(inline.field).trim()) else {
        return Ok(());
    };
    if let Some(row) = related.load(conn, id)? {
        let prefix = inline.prefix();
        form.put_prefixed(&prefix, &row);
        form.set(&format!("{prefix}id"), id.to_string());
    }
    Ok(())
}

/// Saves the inline's row (inside the caller's transaction) when the form holds one, and
/// records it in the history; a new row becomes the parent's foreign key in `form`.
/// `parent_before` is the parent as stored (a change), whose row alone the inline may edit.
pub fn save(
    conn: &mut DbConnection,
    inline: &Inline,
    form: &mut Form,
    parent_before: Option<&Form>,
    actor: i32,
) -> Result<(), SaveError> {
    let prefix = inline.prefix();
    let values = form.prefixed(&prefix);
    if !values.any_filled(&["id"]) {
        return Ok(());
    }
    let Some(related) = find(inline.app, inline.model) else {
        return Ok(());
    };
    let verbose = related.meta().verbose;
    let current = parent_before.and_then(|before| parse_id(before.get(inline.field).trim()));
    let row = match (parse_id(values.get("id").trim()), current) {
        (Some(given), Some(current)) if given == current => Some(current),
        (Some(_), _) => {
            return Err(SaveError::Invalid(FormErrors {
                form: vec![format!(
                    "The {verbose} below is no longer the one this form is about: reload the page."
                )],
                ..FormErrors::default()
            }))
        }
        (None, _) => None,
    };
    if row.is_none() && !form.get(inline.field).trim().is_empty() {
        return Err(SaveError::Invalid(FormErrors::field(
            inline.field,
            format!("Choose an existing {verbose} or enter a new one below, not both."),
        )));
    }
    let adding = row.is_none();
    let before = match row {
        Some(id) => related.load(conn, id)?,
        None => None,
    };
    let changed = before
        .as_ref()
        .map(|old| super::views::changed_fields(specs(related, adding), old, &values));
    if changed.as_ref().is_some_and(Vec::is_empty) {
        return Ok(());
    }
    let id = related.save(conn, row, &values).map_err(|err| match err {
        SaveError::Invalid(errors) => SaveError::Invalid(errors.prefixed(&prefix)),
        other => other,
    })?;
    let title = related.describe(conn, id)?.unwrap_or_default();
    let (action, message) = match changed {
        None => (history::Action::Addition, history::added_message()),
        Some(fields) => (history::Action::Change, history::changed_message(&fields)),
    };
    history::record(
        conn,
        actor,
        &related.meta().content_type(),
        id,
        &title,
        action,
        &message,
    )?;
    if adding {
        form.set(inline.field, id.to_string());
    }
    Ok(())
}
