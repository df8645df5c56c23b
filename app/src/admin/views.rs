//! The admin's pages, generic over [`AdminModel`]: index, list, add, change, delete, and
//! each model's object actions (a user's password form). Each handler: its extractors
//! (the staff session; for a POST, the CSRF-checked form), one model call, one template.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::Connection;
use serde::Serialize;
use tera::Context;

use super::extract::{StaffForm, StaffUser};
use super::history;
use super::model::{find, lacking_permissions, registry, AdminModel, ModelMeta, ObjectAction, Pressed, SaveError};
use super::permissions::Action;
use super::render::{admin_page, redirect_with_message};
use super::session::StaffSession;
use super::urls;
use crate::db::{DbConnection, DbError};
use crate::errors::AppError;
use crate::forms::{clean, field_views, Choices, FieldKind, FieldSpec, Form, FormErrors};
use crate::ids::parse_id;
use crate::state::AppState;

pub(super) type Page = Result<HttpResponse, AppError>;

/// What a page needs of the staff member's permissions on its model.
#[derive(Debug, Clone, Copy)]
pub(super) enum Need {
    /// The list, an object's page read-only, its history: `view` or `change`.
    View,
    To(Action),
}

/// The model the URL names (a 404 when there is none), if `staff` may do what the page
/// needs with it (a 403 page otherwise, before anything is read or written).
pub(super) fn model_for(
    staff: &StaffSession,
    app: &str,
    name: &str,
    need: Need,
) -> Result<&'static dyn AdminModel, AppError> {
    let model = find(app, name).ok_or(AppError::NotFound)?;
    let meta = model.meta();
    if meta.superuser_only && !staff.is_superuser {
        return Err(AppError::Forbidden(format!(
            "Only superusers can manage {}.",
            meta.plural
        )));
    }
    let (allowed, verb) = match need {
        Need::View => (staff.permissions.may_view(meta), "view"),
        Need::To(action) => (staff.permissions.may(meta, action), action_verb(action)),
    };
    if allowed {
        Ok(model)
    } else {
        Err(AppError::Forbidden(format!(
            "You don’t have permission to {verb} {}.",
            meta.plural
        )))
    }
}

fn action_verb(action: Action) -> &'static str {
    match action {
        Action::View => "view",
        Action::Add => "add",
        Action::Change => "change",
        Action::Delete => "delete",
    }
}

/// Where to go after a save or a delete: the list or the object's page when the staff
/// member may see them, the index otherwise (Django's `response_post_save_add`).
pub(super) fn list_or_index(staff: &StaffSession, model: &dyn AdminModel, location: String) -> String {
    if !staff.permissions.may_view(model.meta()) && !location.ends_with("/add/") {
        urls::INDEX.to_owned()
    } else {
        location
    }
}

fn object_id(raw: &str) -> Result<i32, AppError> {
    parse_id(raw).ok_or(AppError::NotFound)
}

#[derive(Serialize)]
struct ModelLink {
    plural: &'static str,
    /// The list, when the staff member may see it.
    url: Option<String>,
    /// The add page, when they may add.
    add_url: Option<String>,
    may_change: bool,
}

#[derive(Serialize)]
struct AppGroup {
    app: &'static str,
    label: &'static str,
    /// The app's own index page.
    url: String,
    models: Vec<ModelLink>,
}

/// The index's apps, each with the models this staff member may manage.
fn apps_for(staff: &StaffSession) -> Vec<AppGroup> {
    let mut groups: Vec<AppGroup> = Vec::new();
    for model in registry() {
        let meta = model.meta();
        if !staff.permissions.may_see(meta) {
            continue;
        }
        let link = ModelLink {
            plural: meta.plural,
            url: staff.permissions.may_view(meta).then(|| meta.url()),
            add_url: staff.permissions.may(meta, Action::Add).then(|| urls::add(meta)),
            may_change: staff.permissions.may(meta, Action::Change),
        };
        match groups.iter_mut().find(|g| g.label == meta.app_label) {
            Some(group) => group.models.push(link),
            None => groups.push(AppGroup {
                app: meta.app,
                label: meta.app_label,
                url: urls::app_index(meta.app),
                models: vec![link],
            }),
        }
    }
    groups
}

/// A "Recent actions" line: the entry, and the link to its object when there is one.
#[derive(Serialize)]
struct RecentAction {
    #[serde(flatten)]
    entry: history::Entry,
    link: Option<String>,
    /// The model as Django's recent actions name it ("Profile"), or the entry's raw
    /// content type for a model this site does not have.
    model: String,
}

/// A model's verbose name with a capital first letter (Django's `capfirst`).
pub(super) fn capfirst(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// `GET /admin/{app}/`: one app's models this user may see (Django's `app_index`); a 404
/// for an app that is not there or of which they may see nothing.
pub async fn app_index(req: HttpRequest, StaffUser(staff): StaffUser, path: web::Path<String>) -> Page {
    let app = path.into_inner();
    let group = apps_for(&staff)
        .into_iter()
        .find(|g| g.app == app)
        .ok_or(AppError::NotFound)?;
    let mut context = Context::new();
    context.insert("heading", &format!("{} administration", group.label));
    context.insert("crumb", group.label);
    context.insert("apps", &[group]);
    context.insert("app_page", &true);
    admin_page(&req, Some(&staff), "admin/index.html", context, StatusCode::OK)
}

/// `GET /admin/`: the models this user may see, and their own recent actions.
pub async fn index(req: HttpRequest, state: web::Data<AppState>, StaffUser(staff): StaffUser) -> Page {
    let mut context = Context::new();
    context.insert("apps", &apps_for(&staff));
    let (user_id, permissions) = (staff.user_id, staff.permissions.clone());
    let recent = state
        .db
        .run(move |conn| {
            let mut recent = Vec::new();
            for entry in history::recent(conn, user_id)? {
                // A link only to an object that still exists, of a model this user may see.
                let model = entry
                    .content_type
                    .split_once('.')
                    .and_then(|(app, name)| find(app, name))
                    .map_or_else(|| entry.content_type.clone(), |m| capfirst(m.meta().verbose));
                let link = match (entry.linkable, entry.object()) {
                    (true, Some((app, name, id))) => match find(app, name) {
                        Some(model) if permissions.may_view(model.meta()) => {
                            model.describe(conn, id)?.map(|_| urls::change(model.meta(), id))
                        }
                        _ => None,
                    },
                    _ => None,
                };
                recent.push(RecentAction { entry, link, model });
            }
            Ok(recent)
        })
        .await?;
    context.insert("recent", &recent);
    admin_page(&req, Some(&staff), "admin/index.html", context, StatusCode::OK)
}

#[derive(Serialize)]
pub(super) struct MetaView {
    /// The list's and the add form's URLs.
    url: String,
    add_url: String,
    /// The app's index.
    app_url: String,
    app: &'static str,
    app_label: &'static str,
    name: &'static str,
    verbose: &'static str,
    plural: &'static str,
    search_help: &'static str,
}

pub(super) fn meta_view(meta: &ModelMeta) -> MetaView {
    MetaView {
        url: urls::list(meta),
        add_url: urls::add(meta),
        app_url: urls::app_index(meta.app),
        app: meta.app,
        app_label: meta.app_label,
        name: meta.name,
        verbose: meta.verbose,
        plural: meta.plural,
        search_help: meta.search_help,
    }
}

/// What a form page shows besides its fields.
struct FormPage {
    heading: String,
    action: String,
    object_id: Option<i32>,
    crumb: String,
    specs: &'static [FieldSpec],
    /// An object action's page: one Save button, no delete.
    single_action: bool,
    /// The staff member may view but not change: values as text, no buttons.
    read_only: bool,
    may_delete: bool,
    may_add: bool,
}

#[derive(Serialize)]
struct LinkView {
    label: &'static str,
    help: &'static str,
    url: String,
}

async fn render_form(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    staff: &StaffSession,
    model: &'static dyn AdminModel,
    page: FormPage,
    form: &Form,
    errors: &FormErrors,
) -> Page {
    let object_id = page.object_id;
    let specs = page.specs;
    let values = form.clone();
    // The related row edited on this form, when the viewer may (Django's inline).
    let inline = if page.read_only || page.single_action {
        None
    } else {
        super::inline::usable(staff, model, object_id.is_none())
    };
    let (choices, inline_choices, readonly, site_url) = state
        .db
        .run(move |conn| {
            let (readonly, site_url) = match object_id {
                Some(id) if !page.single_action => (model.readonly(conn, id)?, model.site_url(conn, id)?),
                _ => (Vec::new(), None),
            };
            let mut choices = model.choices(conn)?;
            choices.extend(foreign_keys(conn, specs, &values)?);
            let inline_choices = match inline {
                Some((_, related)) => related.choices(conn)?,
                None => Choices::new(),
            };
            Ok((choices, inline_choices, readonly, site_url))
        })
        .await?;
    let links: Vec<LinkView> = match page.object_id {
        Some(id) if !page.single_action && !page.read_only => model
            .actions()
            .iter()
            .map(|action| {
                let (label, help) = action.link();
                LinkView {
                    label,
                    help,
                    url: urls::action(model.meta(), id, action.slug()),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut fields = field_views(page.specs, form, errors, &choices);
    for field in &mut fields {
        let Some(related) = field.related.and_then(|r| find(r.app, r.model)) else {
            continue;
        };
        let meta = related.meta();
        let may = |action| staff.permissions.may(meta, action);
        field.lookup = staff.permissions.may_view(meta).then(|| urls::list(meta));
        // Django's RelatedFieldWidgetWrapper: add one (and come back to this form with
        // it chosen), change or view the chosen one; each as the viewer may.
        if !page.read_only && may(Action::Add) {
            let query = serde_urlencoded::to_string([(RETURN_TO, page.action.as_str()), (RETURN_FIELD, field.name)])
                .unwrap_or_default();
            field.add_related = Some(format!("{}?{query}", urls::add(meta)));
        }
        // The chosen row, when it exists (the widget shows its name then).
        let chosen = parse_id(field.value.trim()).filter(|_| !field.options.is_empty());
        if may(Action::Change) {
            field.change_related = chosen.map(|id| urls::change(meta, id));
            field.related_template = Some(urls::change_template(meta));
            field.related_kind = Some("change");
        } else if may(Action::View) {
            field.view_related = chosen.map(|id| urls::change(meta, id));
            field.related_template = Some(urls::change_template(meta));
            field.related_kind = Some("view");
        }
    }
    let popup = is_popup(req, form);
    let inline_view = inline.map(|(inline, related)| {
        super::inline::view(inline, related, object_id.is_none(), form, errors, &inline_choices)
    });
    let mut context = Context::new();
    context.insert("meta", &meta_view(model.meta()));
    context.insert("heading", &page.heading);
    context.insert("action", &page.action);
    context.insert("object_id", &page.object_id);
    context.insert("crumb", &page.crumb);
    if let (Some(id), false) = (page.object_id, page.single_action) {
        context.insert("history_url", &urls::history(model.meta(), id));
        context.insert("delete_url", &urls::delete(model.meta(), id));
    }
    context.insert("site_url", &site_url);
    context.insert("fields", &fields);
    context.insert("links", &links);
    context.insert("readonly", &readonly);
    context.insert("single_action", &page.single_action);
    context.insert("read_only", &page.read_only);
    context.insert("may_delete", &page.may_delete);
    context.insert("may_add", &page.may_add);
    context.insert("is_popup", &popup);
    context.insert("inline", &inline_view);
    context.insert("has_errors", &!errors.is_empty());
    context.insert("error_count", &(errors.fields.len() + errors.form.len()));
    context.insert("form_errors", &errors.form);
    // A form opened from another form's "add" link goes back to it once saved.
    if page.may_add && page.object_id.is_none() {
        let asked: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        // The posted form's (a form shown again with errors), else the link's.
        let given = |name: &str| match form.get(name) {
            "" => asked
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            posted => posted.to_owned(),
        };
        if let Some((to, field)) = return_to(&given(RETURN_TO), &given(RETURN_FIELD)) {
            context.insert("return_to", &to);
            context.insert("return_field", &field);
        }
    }
    admin_page(req, Some(staff), "admin/change_form.html", context, StatusCode::OK)
}

/// Each foreign key's current row as its one option, (the value as given, the row's name):
/// what the id input shows beside the id. A value that names no row has none.
fn foreign_keys(conn: &mut DbConnection, specs: &[FieldSpec], form: &Form) -> Result<Choices, DbError> {
    let mut choices = Choices::new();
    for spec in specs {
        let FieldKind::ForeignKey { app, model } = spec.kind else {
            continue;
        };
        let value = form.get(spec.name);
        let (Some(related), Some(id)) = (find(app, model), parse_id(value.trim())) else {
            continue;
        };
        if let Some(name) = related.describe(conn, id)? {
            choices.insert(spec.name, vec![(value.to_owned(), name)]);
        }
    }
    Ok(choices)
}

/// A form opened in a popup window by another form's related-object link (Django's
/// `_popup=1`): no header, and once saved, a page whose script hands the row back.
pub const POPUP: &str = "_popup";

/// Whether this form is a popup's: `?_popup=1` on the page, or the posted hidden field.
fn is_popup(req: &HttpRequest, form: &Form) -> bool {
    form.get(POPUP) == "1"
        || serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
            .unwrap_or_default()
            .iter()
            .any(|(k, v)| k == POPUP && v == "1")
}

/// What a popup's form answers once saved (Django's `popup_response.html`): the row's id
/// and name as JSON in a data attribute, read by `js/popup_response.js`, which gives them
/// to the form that opened the popup and closes it (no inline script: the CSP allows
/// none).
fn popup_response(req: &HttpRequest, staff: &StaffSession, action: &str, id: i32, title: &str) -> Page {
    let data = serde_json::json!({ "action": action, "value": id.to_string(), "obj": title });
    let mut context = Context::new();
    context.insert("popup_response", &data.to_string());
    context.insert("object", title);
    context.insert("is_popup", &true);
    admin_page(req, Some(staff), "admin/popup_response.html", context, StatusCode::OK)
}

/// The hidden fields of a form opened from another form's "add" link: where to go back,
/// and which of that form's fields takes the new row's id.
pub const RETURN_TO: &str = "_return";
pub const RETURN_FIELD: &str = "_field";

/// Where an add form goes back to once saved, if it was opened from another admin form:
/// an admin path of this site (never elsewhere) and a field name.
pub fn return_to(to: &str, field: &str) -> Option<(String, String)> {
    let local = crate::admin::request::safe_next(to);
    let admin_path = local == to && to.starts_with(urls::INDEX) && to.len() <= 2000;
    let field_ok = !field.is_empty() && field.len() <= 40 && field.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    (admin_path && field_ok).then(|| (to.to_owned(), field.to_owned()))
}

/// The values a form page's URL gives its fields (`?address=7`, as Django's admin takes
/// initial values): how a form comes back from a related "add" with the new row chosen.
fn initial_values(req: &HttpRequest, specs: &[FieldSpec], form: &mut Form) {
    let asked: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    for spec in specs {
        if let Some((_, value)) = asked.iter().find(|(k, _)| k == spec.name) {
            form.set(spec.name, value.chars().take(200).collect::<String>());
        }
    }
}

/// A form page before anything was submitted.
async fn blank_form(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    staff: &StaffSession,
    model: &'static dyn AdminModel,
    page: FormPage,
) -> Page {
    let mut form = Form::default();
    initial_values(req, page.specs, &mut form);
    render_form(req, state, staff, model, page, &form, &FormErrors::default()).await
}

fn add_page(meta: &'static ModelMeta) -> FormPage {
    FormPage {
        heading: format!("Add {}", meta.verbose),
        action: urls::add(meta),
        object_id: None,
        crumb: format!("Add {}", meta.verbose),
        specs: meta.add_fields,
        single_action: false,
        read_only: false,
        may_delete: false,
        may_add: true,
    }
}

/// An object's page: its change form, or the same values read-only for a staff member
/// who may only view (Django's "View letting").
fn change_page(staff: &StaffSession, meta: &'static ModelMeta, id: i32, title: &str) -> FormPage {
    let read_only = !staff.permissions.may(meta, Action::Change);
    FormPage {
        heading: format!("{} {}", if read_only { "View" } else { "Change" }, meta.verbose),
        action: urls::change(meta, id),
        object_id: Some(id),
        crumb: title.to_owned(),
        specs: meta.change_fields,
        single_action: false,
        read_only,
        may_delete: staff.permissions.may(meta, Action::Delete),
        may_add: staff.permissions.may(meta, Action::Add),
    }
}

/// Cleans and saves; `Ok(Err(errors))` when the form must be shown again.
async fn clean_and_save(
    state: &web::Data<AppState>,
    model: &'static dyn AdminModel,
    form: &Form,
    id: Option<i32>,
    actor: i32,
) -> Result<Result<(i32, String), FormErrors>, AppError> {
    let form = form.clone();
    let outcome = state
        .write(move |conn| {
            let before = match id {
                Some(id) => model.load(conn, id)?,
                None => None,
            };
            // The save and its history entry are one transaction: no change goes unrecorded.
            // An inline's row goes first, in the same transaction (the parent names it).
            let saved = conn.transaction::<_, SaveError, _>(|conn| {
                let mut form = form.clone();
                if let Some(inline) = model.inline() {
                    super::inline::save(conn, inline, &mut form, before.as_ref(), actor)?;
                }
                let id = model.save(conn, id, &form)?;
                let title = model.describe(conn, id)?.unwrap_or_default();
                let (action, message) = match &before {
                    None => (history::Action::Addition, history::added_message()),
                    Some(old) => (
                        history::Action::Change,
                        history::changed_message(&changed_fields(model.meta().change_fields, old, &form)),
                    ),
                };
                history::record(conn, actor, &content_type(model), id, &title, action, &message)?;
                Ok((id, title))
            });
            Ok(saved)
        })
        .await?;
    match outcome {
        Ok(saved) => Ok(Ok(saved)),
        Err(err) => Ok(Err(form_errors_or(err)?)),
    }
}

/// Deletes object `id` with its history entry, inside the caller's transaction; its title
/// as it was, or `None` when it was already gone (nothing is recorded then).
pub(super) fn delete_recorded(
    conn: &mut crate::db::DbConnection,
    model: &dyn AdminModel,
    actor: i32,
    id: i32,
) -> Result<Option<String>, DbError> {
    let Some(repr) = model.describe(conn, id)? else {
        return Ok(None);
    };
    let cascades = model.cascades(conn, id)?;
    if !model.delete(conn, id)? {
        return Ok(None);
    }
    history::record(
        conn,
        actor,
        &content_type(model),
        id,
        &repr,
        history::Action::Deletion,
        "",
    )?;
    // Each row that went with it gets its own entry, so its History says how it went.
    let verbose = model.meta().verbose;
    for cascade in cascades {
        if let (Some((app, name)), Some((row_id, row_repr))) = (cascade.model, cascade.row) {
            history::record(
                conn,
                actor,
                &format!("{app}.{name}"),
                row_id,
                &row_repr,
                history::Action::Deletion,
                &format!("Deleted with the {verbose} “{repr}”."),
            )?;
        }
    }
    Ok(Some(repr))
}

/// What a deletion did.
pub enum Deletion<T> {
    Deleted(T),
    /// No such row (any more).
    Missing,
    /// It would take rows of these models, which the staff member may not delete.
    Refused(Vec<&'static str>),
}

impl<T> crate::state::Changed for Deletion<T> {
    fn changed(&self) -> bool {
        matches!(self, Deletion::Deleted(_))
    }
}

/// Django's refusal of a deletion that would take rows the account may not delete.
pub(super) fn refusal(lacking: &[&str]) -> String {
    format!(
        "Deleting this would result in deleting related objects, but your account doesn't have permission \
         to delete the following types of objects: {}",
        lacking.join(", ")
    )
}

/// `app.model`, as the admin's URLs and its history name a model.
fn content_type(model: &dyn AdminModel) -> String {
    model.meta().content_type()
}

/// The labels of the fields whose value the form changes (Django's `changed_data`);
/// passwords are never compared.
pub(super) fn changed_fields(fields: &'static [crate::forms::FieldSpec], old: &Form, new: &Form) -> Vec<&'static str> {
    fields
        .iter()
        .filter(|f| {
            !matches!(
                f.kind,
                crate::forms::FieldKind::NewPassword | crate::forms::FieldKind::Confirm(_)
            )
        })
        .filter(|f| !old.same_value(new, f))
        .map(|f| f.label)
        .collect()
}

/// A refused save's form errors; any other failure as the request's error.
fn form_errors_or(err: SaveError) -> Result<FormErrors, AppError> {
    match err {
        SaveError::Invalid(errors) => Ok(errors),
        SaveError::Database(err) => Err(err.into()),
        SaveError::Password(err) => Err(err.into()),
        SaveError::Random(err) => Err(err.into()),
    }
}

/// `GET /admin/{app}/{model}/add/`
pub async fn add_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffUser(staff): StaffUser,
    path: web::Path<(String, String)>,
) -> Page {
    let model = model_for(&staff, &path.0, &path.1, Need::To(Action::Add))?;
    let page = add_page(model.meta());
    blank_form(&req, &state, &staff, model, page).await
}

/// `POST /admin/{app}/{model}/add/`
pub async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffForm { staff, form }: StaffForm,
    path: web::Path<(String, String)>,
) -> Page {
    let model = model_for(&staff, &path.0, &path.1, Need::To(Action::Add))?;
    let meta = model.meta();
    let form = super::inline::only_usable(&staff, model, true, &form);
    match clean_and_save(&state, model, &form, None, staff.user_id).await? {
        Ok((id, title)) if is_popup(&req, &form) => popup_response(&req, &staff, "add", id, &title),
        Ok((id, title)) => {
            let message = format!("The {} “{title}” was added successfully.", meta.verbose);
            // Opened from another form's "add" link: back to it, with the new row chosen.
            let location = match return_to(form.get(RETURN_TO), form.get(RETURN_FIELD)) {
                Some((to, field)) => {
                    let separator = if to.contains('?') { '&' } else { '?' };
                    format!("{to}{separator}{field}={id}")
                }
                None => list_or_index(&staff, model, model.after_add(Pressed::of(&form), id)),
            };
            Ok(redirect_with_message(&req, &location, &message))
        }
        Err(errors) => render_form(&req, &state, &staff, model, add_page(meta), &form, &errors).await,
    }
}

async fn existing_title(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    model: &'static dyn AdminModel,
    id: i32,
) -> Result<String, AppError> {
    state
        .db
        .run(move |conn| model.describe(conn, id))
        .await?
        .ok_or_else(|| perhaps_deleted(req, model, id))
}

/// Django's answer to a page of an object that does not exist (any more): back to the
/// admin index, which says so.
fn perhaps_deleted(req: &HttpRequest, model: &dyn AdminModel, id: i32) -> AppError {
    let message = format!(
        "{} with ID “{id}” doesn’t exist. Perhaps it was deleted?",
        capfirst(model.meta().verbose)
    );
    AppError::Missing {
        location: urls::INDEX.to_owned(),
        flash: Box::new(super::request::flash_cookie(req, &message)),
    }
}

/// `GET /admin/{app}/{model}/{id}/change/`
pub async fn change_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffUser(staff): StaffUser,
    path: web::Path<(String, String, String)>,
) -> Page {
    let model = model_for(&staff, &path.0, &path.1, Need::View)?;
    let id = object_id(&path.2)?;
    let inline = super::inline::usable(&staff, model, false);
    let form = state
        .db
        .run(move |conn| {
            let mut form = model.load(conn, id)?;
            if let (Some(form), Some((inline, related))) = (form.as_mut(), inline) {
                super::inline::load(conn, inline, related, form)?;
            }
            Ok(form)
        })
        .await?
        .ok_or_else(|| perhaps_deleted(&req, model, id))?;
    let title = existing_title(&req, &state, model, id).await?;
    let page = change_page(&staff, model.meta(), id, &title);
    let mut form = form;
    initial_values(&req, page.specs, &mut form);
    render_form(&req, &state, &staff, model, page, &form, &FormErrors::default()).await
}

/// `POST /admin/{app}/{model}/{id}/change/`
pub async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffForm { staff, form }: StaffForm,
    path: web::Path<(String, String, String)>,
) -> Page {
    let model = model_for(&staff, &path.0, &path.1, Need::To(Action::Change))?;
    let id = object_id(&path.2)?;
    let title = existing_title(&req, &state, model, id).await?;
    let meta = model.meta();
    let form = super::inline::only_usable(&staff, model, false, &form);
    match clean_and_save(&state, model, &form, Some(id), staff.user_id).await? {
        Ok((id, title)) if is_popup(&req, &form) => popup_response(&req, &staff, "change", id, &title),
        Ok((id, title)) => {
            let message = format!("The {} “{title}” was changed successfully.", meta.verbose);
            let location = model.after_change(Pressed::of(&form), id);
            Ok(redirect_with_message(&req, &location, &message))
        }
        Err(errors) => {
            let page = change_page(&staff, meta, id, &title);
            render_form(&req, &state, &staff, model, page, &form, &errors).await
        }
    }
}

/// `GET /admin/{app}/{model}/{id}/delete/`: what would go, and a confirmation.
pub async fn delete_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffUser(staff): StaffUser,
    path: web::Path<(String, String, String)>,
) -> Page {
    let model = model_for(&staff, &path.0, &path.1, Need::To(Action::Delete))?;
    let id = object_id(&path.2)?;
    let title = existing_title(&req, &state, model, id).await?;
    let content_type = model.meta().content_type();
    let (cascades, kept) = state
        .db
        .run(move |conn| {
            Ok((
                model.cascades(conn, id)?,
                history::kept_on_delete(conn, &content_type, id)?,
            ))
        })
        .await?;
    let mut context = Context::new();
    context.insert("kept", &kept);
    context.insert("meta", &meta_view(model.meta()));
    context.insert("object", &title);
    context.insert("object_id", &id);
    context.insert("lacking", &lacking_permissions(&staff.permissions, &cascades));
    context.insert("change_url", &urls::change(model.meta(), id));
    context.insert("delete_url", &urls::delete(model.meta(), id));
    context.insert("cascades", &cascades);
    context.insert("crumb", "Delete");
    admin_page(
        &req,
        Some(&staff),
        "admin/delete_confirmation.html",
        context,
        StatusCode::OK,
    )
}

/// `POST /admin/{app}/{model}/{id}/delete/`
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffForm { staff, .. }: StaffForm,
    path: web::Path<(String, String, String)>,
) -> Page {
    let model = model_for(&staff, &path.0, &path.1, Need::To(Action::Delete))?;
    let id = object_id(&path.2)?;
    let actor = staff.user_id;
    let permissions = staff.permissions.clone();
    // The title comes from the delete itself: no read before it, and none to race with.
    // What goes with it is checked in the same transaction, so a row attached meanwhile
    // is checked too.
    let deletion = state
        .write(move |conn| {
            conn.transaction::<_, DbError, _>(|conn| {
                let lacking = lacking_permissions(&permissions, &model.cascades(conn, id)?);
                if !lacking.is_empty() {
                    return Ok(Deletion::Refused(lacking));
                }
                Ok(delete_recorded(conn, model, actor, id)?.map_or(Deletion::Missing, Deletion::Deleted))
            })
        })
        .await?;
    let title = match deletion {
        Deletion::Deleted(title) => title,
        Deletion::Missing => return Err(AppError::NotFound),
        Deletion::Refused(lacking) => return Err(AppError::Forbidden(refusal(&lacking))),
    };
    let meta = model.meta();
    Ok(redirect_with_message(
        &req,
        &list_or_index(&staff, model, meta.url()),
        &format!("The {} “{title}” was deleted successfully.", meta.verbose),
    ))
}

/// The model, object and action an action URL names (`/admin/auth/user/3/password/`).
async fn action_for(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    staff: &StaffSession,
    path: &(String, String, String, String),
) -> Result<(&'static dyn AdminModel, &'static dyn ObjectAction, i32, String), AppError> {
    let model = model_for(staff, &path.0, &path.1, Need::To(Action::Change))?;
    let action = model
        .actions()
        .iter()
        .copied()
        .find(|a| a.slug() == path.3)
        .ok_or(AppError::NotFound)?;
    let id = object_id(&path.2)?;
    let title = existing_title(req, state, model, id).await?;
    Ok((model, action, id, title))
}

fn action_page(model: &'static dyn AdminModel, action: &'static dyn ObjectAction, id: i32, title: &str) -> FormPage {
    FormPage {
        heading: action.heading(title),
        action: urls::action(model.meta(), id, action.slug()),
        object_id: Some(id),
        crumb: action.heading(title),
        specs: action.fields(),
        single_action: true,
        read_only: false,
        may_delete: false,
        may_add: false,
    }
}

/// `GET /admin/{app}/{model}/{id}/{action}/`
pub async fn action_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffUser(staff): StaffUser,
    path: web::Path<(String, String, String, String)>,
) -> Page {
    let (model, action, id, title) = action_for(&req, &state, &staff, &path).await?;
    let page = action_page(model, action, id, &title);
    blank_form(&req, &state, &staff, model, page).await
}

/// `POST /admin/{app}/{model}/{id}/{action}/`
pub async fn action(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffForm { staff, mut form }: StaffForm,
    path: web::Path<(String, String, String, String)>,
) -> Page {
    let (model, action, id, title) = action_for(&req, &state, &staff, &path).await?;
    action.prefill(&mut form, &title);
    let cleaned = match clean(action.fields(), &form) {
        Ok(cleaned) => cleaned,
        Err(errors) => {
            let page = action_page(model, action, id, &title);
            return render_form(&req, &state, &staff, model, page, &form, &errors).await;
        }
    };
    let actor = staff.clone();
    let outcome = state
        .write(move |conn| Ok(action.run(conn, id, &cleaned, &actor)))
        .await?;
    match outcome {
        Ok(message) => {
            let location = urls::change(model.meta(), id);
            Ok(redirect_with_message(&req, &location, &message))
        }
        Err(err) => {
            let errors = form_errors_or(err)?;
            let page = action_page(model, action, id, &title);
            render_form(&req, &state, &staff, model, page, &form, &errors).await
        }
    }
}

/// `GET /admin/{app}/{model}/{id}/history/`: the object's history, oldest first.
pub async fn object_history(
    req: HttpRequest,
    state: web::Data<AppState>,
    StaffUser(staff): StaffUser,
    path: web::Path<(String, String, String)>,
) -> Page {
    let model = model_for(&staff, &path.0, &path.1, Need::View)?;
    let id = object_id(&path.2)?;
    let content_type = content_type(model);
    let (title, entries) = state
        .db
        .run(move |conn| Ok((model.describe(conn, id)?, history::of_object(conn, &content_type, id)?)))
        .await?;
    // A deleted object's history stays readable (who deleted letting 6?), under the
    // name it had; an id that never had any goes back to the index, as Django's.
    let (title, exists) = match (title, entries.last()) {
        (Some(title), _) => (title, true),
        (None, Some(last)) => (format!("{} (deleted)", last.repr), false),
        (None, None) => return Err(perhaps_deleted(&req, model, id)),
    };
    let meta = model.meta();
    let mut context = Context::new();
    context.insert("heading", &format!("Change history: {title}"));
    context.insert("meta", &meta_view(meta));
    context.insert("crumb", &format!("{title} › History"));
    context.insert("entries", &entries);
    context.insert("change_url", &exists.then(|| urls::change(meta, id)));
    admin_page(&req, Some(&staff), "admin/object_history.html", context, StatusCode::OK)
}
