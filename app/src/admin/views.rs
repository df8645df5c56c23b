//! The admin's pages, generic over [`AdminModel`]: index, list, add, change, delete, and a
//! user's password form. Each handler: session and CSRF, one model call, one template.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use tera::Context;

use super::forms::{clean, field_views, FieldSpec, Form, FormErrors};
use super::model::{find, registry, AdminModel, ListPage, ListQuery, ModelMeta, SaveError, PER_PAGE};
use super::models::user::{set_password_hash, PASSWORD_FIELDS};
use super::render::{admin_page, redirect_with_message};
use super::request::{check_csrf, parse_form, require_staff};
use super::session::StaffSession;
use crate::accounts::password::hash_password;
use crate::errors::AppError;
use crate::lettings::model::parse_letting_id as parse_id;
use crate::startup::AppState;

type Page = Result<HttpResponse, AppError>;

fn model_for(staff: &StaffSession, app: &str, name: &str) -> Result<&'static dyn AdminModel, AppError> {
    let model = find(app, name).ok_or(AppError::NotFound)?;
    if model.meta().superuser_only && !staff.is_superuser {
        return Err(AppError::Forbidden("Only superusers can manage users.".into()));
    }
    Ok(model)
}

fn object_id(raw: &str) -> Result<i32, AppError> {
    parse_id(raw).ok_or(AppError::NotFound)
}

#[derive(Serialize)]
struct ModelLink {
    plural: &'static str,
    url: String,
}

#[derive(Serialize)]
struct AppGroup {
    label: &'static str,
    models: Vec<ModelLink>,
}

/// The index's apps, each with the models this staff member may manage.
fn apps_for(staff: &StaffSession) -> Vec<AppGroup> {
    let mut groups: Vec<AppGroup> = Vec::new();
    for model in registry() {
        let meta = model.meta();
        if meta.superuser_only && !staff.is_superuser {
            continue;
        }
        let link = ModelLink {
            plural: meta.plural,
            url: meta.url(),
        };
        match groups.iter_mut().find(|g| g.label == meta.app_label) {
            Some(group) => group.models.push(link),
            None => groups.push(AppGroup {
                label: meta.app_label,
                models: vec![link],
            }),
        }
    }
    groups
}

/// `GET /admin/`
pub async fn index(req: HttpRequest, state: web::Data<AppState>) -> Page {
    let staff = require_staff(&req, &state).await?;
    let mut context = Context::new();
    context.insert("apps", &apps_for(&staff));
    admin_page(&req, Some(&staff), "admin/index.html", context, StatusCode::OK)
}

/// `?q=…&p=…&o=…` (search, 1-based page, sort column with `-` for descending).
pub fn list_query(query_string: &str) -> ListQuery {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query_string).unwrap_or_default();
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let sort = get("o");
    let (descending, column) = match sort.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, sort),
    };
    ListQuery {
        search: get("q").chars().take(200).collect(),
        page: get("p").parse::<i64>().unwrap_or(1).clamp(1, 1_000_000),
        sort: column.parse::<usize>().ok().map(|c| (c, descending)),
    }
}

fn list_url(meta: &ModelMeta, query: &ListQuery, page: i64, sort: Option<(usize, bool)>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if !query.search.is_empty() {
        pairs.push(("q", query.search.clone()));
    }
    if let Some((column, descending)) = sort {
        pairs.push(("o", format!("{}{column}", if descending { "-" } else { "" })));
    }
    if page > 1 {
        pairs.push(("p", page.to_string()));
    }
    let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    if encoded.is_empty() {
        meta.url()
    } else {
        format!("{}?{encoded}", meta.url())
    }
}

#[derive(Serialize)]
struct ColumnView {
    label: &'static str,
    url: String,
    sorted: &'static str,
}

#[derive(Serialize)]
struct PageLink {
    number: i64,
    url: String,
    current: bool,
}

#[derive(Serialize)]
struct RowView {
    id: i32,
    cells: Vec<String>,
}

/// `GET /admin/{app}/{model}/`
pub async fn changelist(req: HttpRequest, state: web::Data<AppState>, path: web::Path<(String, String)>) -> Page {
    let staff = require_staff(&req, &state).await?;
    let model = model_for(&staff, &path.0, &path.1)?;
    let meta = model.meta();
    let query = list_query(req.query_string());
    // A NUL matches nothing (and PostgreSQL refuses one in text): no query at all.
    let page = if query.search.contains('\0') {
        ListPage::default()
    } else {
        let run_query = query.clone();
        state.db.run(move |conn| model.list(conn, &run_query)).await?
    };

    let columns: Vec<ColumnView> = meta
        .columns
        .iter()
        .enumerate()
        .map(|(index, label)| {
            let (sorted, next) = match query.sort {
                Some((c, false)) if c == index => ("asc", (index, true)),
                Some((c, true)) if c == index => ("desc", (index, false)),
                _ => ("", (index, false)),
            };
            ColumnView {
                label,
                url: list_url(meta, &query, 1, Some(next)),
                sorted,
            }
        })
        .collect();
    let last_page = ((page.total + PER_PAGE - 1) / PER_PAGE).max(1);
    let pages: Vec<PageLink> = if last_page > 1 {
        (1..=last_page)
            .map(|number| PageLink {
                number,
                url: list_url(meta, &query, number, query.sort),
                current: number == query.page,
            })
            .collect()
    } else {
        Vec::new()
    };
    let rows: Vec<RowView> = page
        .rows
        .into_iter()
        .map(|r| RowView {
            id: r.id,
            cells: r.cells,
        })
        .collect();

    let mut context = Context::new();
    context.insert("meta", &meta_view(meta));
    context.insert("columns", &columns);
    context.insert("rows", &rows);
    context.insert("total", &page.total);
    context.insert("pages", &pages);
    context.insert("search", &query.search);
    admin_page(&req, Some(&staff), "admin/change_list.html", context, StatusCode::OK)
}

#[derive(Serialize)]
struct MetaView {
    app: &'static str,
    app_label: &'static str,
    name: &'static str,
    verbose: &'static str,
    plural: &'static str,
    search_help: &'static str,
}

fn meta_view(meta: &ModelMeta) -> MetaView {
    MetaView {
        app: meta.app,
        app_label: meta.app_label,
        name: meta.name,
        verbose: meta.verbose,
        plural: meta.plural,
        search_help: meta.search_help,
    }
}

/// What a form page shows besides its fields.
struct FormPage<'a> {
    heading: String,
    action: String,
    object_id: Option<i32>,
    crumb: String,
    specs: &'a [FieldSpec],
    password_form: bool,
}

async fn render_form(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    staff: &StaffSession,
    model: &'static dyn AdminModel,
    page: FormPage<'_>,
    form: &Form,
    errors: &FormErrors,
) -> Page {
    let choices = state.db.run(move |conn| model.choices(conn)).await?;
    let fields = field_views(page.specs, form, errors, &choices);
    let mut context = Context::new();
    context.insert("meta", &meta_view(model.meta()));
    context.insert("heading", &page.heading);
    context.insert("action", &page.action);
    context.insert("object_id", &page.object_id);
    context.insert("crumb", &page.crumb);
    context.insert("fields", &fields);
    context.insert("password_form", &page.password_form);
    context.insert("has_errors", &!errors.is_empty());
    context.insert("error_count", &(errors.fields.len() + errors.form.len()));
    context.insert("form_errors", &errors.form);
    admin_page(req, Some(staff), "admin/change_form.html", context, StatusCode::OK)
}

fn add_page(meta: &'static ModelMeta) -> FormPage<'static> {
    FormPage {
        heading: format!("Add {}", meta.verbose),
        action: format!("{}add/", meta.url()),
        object_id: None,
        crumb: format!("Add {}", meta.verbose),
        specs: meta.add_fields,
        password_form: false,
    }
}

fn change_page(meta: &'static ModelMeta, id: i32, title: &str) -> FormPage<'static> {
    FormPage {
        heading: format!("Change {}", meta.verbose),
        action: format!("{}{id}/change/", meta.url()),
        object_id: Some(id),
        crumb: title.to_owned(),
        specs: meta.change_fields,
        password_form: false,
    }
}

/// Where to go after a save, by the button pressed (Django's three).
fn after_save(meta: &ModelMeta, form: &Form, id: i32) -> String {
    if form.has("_addanother") {
        format!("{}add/", meta.url())
    } else if form.has("_continue") {
        format!("{}{id}/change/", meta.url())
    } else {
        meta.url()
    }
}

/// Validates and saves; `Ok(Err(errors))` when the form must be shown again.
async fn clean_and_save(
    state: &web::Data<AppState>,
    model: &'static dyn AdminModel,
    specs: &'static [FieldSpec],
    form: &Form,
    id: Option<i32>,
) -> Result<Result<(i32, String), FormErrors>, AppError> {
    let cleaned = match clean(specs, form) {
        Ok(cleaned) => cleaned,
        Err(errors) => return Ok(Err(errors)),
    };
    let outcome = state
        .db
        .run(move |conn| {
            Ok(match model.save(conn, id, &cleaned) {
                Ok(id) => Ok((id, model.describe(conn, id)?.unwrap_or_default())),
                Err(err) => Err(err),
            })
        })
        .await?;
    match outcome {
        Ok(saved) => {
            state.pages.invalidate();
            Ok(Ok(saved))
        }
        Err(SaveError::Invalid(errors)) => Ok(Err(errors)),
        Err(SaveError::Database(err)) => Err(err.into()),
        Err(SaveError::Password(err)) => Err(err.into()),
    }
}

/// `GET /admin/{app}/{model}/add/`
pub async fn add_form(req: HttpRequest, state: web::Data<AppState>, path: web::Path<(String, String)>) -> Page {
    let staff = require_staff(&req, &state).await?;
    let model = model_for(&staff, &path.0, &path.1)?;
    render_form(
        &req,
        &state,
        &staff,
        model,
        add_page(model.meta()),
        &Form::default(),
        &FormErrors::default(),
    )
    .await
}

/// `POST /admin/{app}/{model}/add/`
pub async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Page {
    let staff = require_staff(&req, &state).await?;
    let model = model_for(&staff, &path.0, &path.1)?;
    let form = parse_form(&body)?;
    check_csrf(&staff, &form)?;
    let meta = model.meta();
    match clean_and_save(&state, model, meta.add_fields, &form, None).await? {
        Ok((id, title)) => {
            let message = format!("The {} “{title}” was added successfully.", meta.verbose);
            // A new user's details come next, as in Django.
            let location = if meta.name == "user" {
                format!("{}{id}/change/", meta.url())
            } else {
                after_save(meta, &form, id)
            };
            Ok(redirect_with_message(&req, &location, &message))
        }
        Err(errors) => render_form(&req, &state, &staff, model, add_page(meta), &form, &errors).await,
    }
}

async fn existing_title(
    state: &web::Data<AppState>,
    model: &'static dyn AdminModel,
    id: i32,
) -> Result<String, AppError> {
    state
        .db
        .run(move |conn| model.describe(conn, id))
        .await?
        .ok_or(AppError::NotFound)
}

/// `GET /admin/{app}/{model}/{id}/change/`
pub async fn change_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Page {
    let staff = require_staff(&req, &state).await?;
    let model = model_for(&staff, &path.0, &path.1)?;
    let id = object_id(&path.2)?;
    let form = state
        .db
        .run(move |conn| model.load(conn, id))
        .await?
        .ok_or(AppError::NotFound)?;
    let title = existing_title(&state, model, id).await?;
    render_form(
        &req,
        &state,
        &staff,
        model,
        change_page(model.meta(), id, &title),
        &form,
        &FormErrors::default(),
    )
    .await
}

/// `POST /admin/{app}/{model}/{id}/change/`
pub async fn change(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Page {
    let staff = require_staff(&req, &state).await?;
    let model = model_for(&staff, &path.0, &path.1)?;
    let id = object_id(&path.2)?;
    let form = parse_form(&body)?;
    check_csrf(&staff, &form)?;
    let title = existing_title(&state, model, id).await?;
    let meta = model.meta();
    match clean_and_save(&state, model, meta.change_fields, &form, Some(id)).await? {
        Ok((id, title)) => {
            let message = format!("The {} “{title}” was changed successfully.", meta.verbose);
            Ok(redirect_with_message(&req, &after_save(meta, &form, id), &message))
        }
        Err(errors) => {
            render_form(
                &req,
                &state,
                &staff,
                model,
                change_page(meta, id, &title),
                &form,
                &errors,
            )
            .await
        }
    }
}

/// `GET /admin/{app}/{model}/{id}/delete/`: what would go, and a confirmation.
pub async fn delete_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Page {
    let staff = require_staff(&req, &state).await?;
    let model = model_for(&staff, &path.0, &path.1)?;
    let id = object_id(&path.2)?;
    let title = existing_title(&state, model, id).await?;
    let cascades = state.db.run(move |conn| model.cascades(conn, id)).await?;
    let mut context = Context::new();
    context.insert("meta", &meta_view(model.meta()));
    context.insert("object", &title);
    context.insert("object_id", &id);
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
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Page {
    let staff = require_staff(&req, &state).await?;
    let model = model_for(&staff, &path.0, &path.1)?;
    let id = object_id(&path.2)?;
    check_csrf(&staff, &parse_form(&body)?)?;
    let title = existing_title(&state, model, id).await?;
    state.db.run(move |conn| model.delete(conn, id)).await?;
    state.pages.invalidate();
    let meta = model.meta();
    Ok(redirect_with_message(
        &req,
        &meta.url(),
        &format!("The {} “{title}” was deleted successfully.", meta.verbose),
    ))
}

fn password_page(id: i32, username: &str) -> FormPage<'static> {
    FormPage {
        heading: format!("Change password: {username}"),
        action: format!("/admin/auth/user/{id}/password/"),
        object_id: Some(id),
        crumb: "Change password".to_owned(),
        specs: PASSWORD_FIELDS,
        password_form: true,
    }
}

/// `GET /admin/auth/user/{id}/password/`
pub async fn password_form(req: HttpRequest, state: web::Data<AppState>, path: web::Path<String>) -> Page {
    let staff = require_staff(&req, &state).await?;
    let model = model_for(&staff, "auth", "user")?;
    let id = object_id(&path)?;
    let username = existing_title(&state, model, id).await?;
    render_form(
        &req,
        &state,
        &staff,
        model,
        password_page(id, &username),
        &Form::default(),
        &FormErrors::default(),
    )
    .await
}

/// `POST /admin/auth/user/{id}/password/`: sets an argon2id hash and ends the user's sessions.
pub async fn password_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Page {
    let staff = require_staff(&req, &state).await?;
    let model = model_for(&staff, "auth", "user")?;
    let id = object_id(&path)?;
    let mut form = parse_form(&body)?;
    check_csrf(&staff, &form)?;
    let username = existing_title(&state, model, id).await?;
    form.set("username", username.clone());
    match clean(PASSWORD_FIELDS, &form) {
        Ok(cleaned) => {
            let new_password = cleaned.text("password1");
            let hash = web::block(move || hash_password(&new_password))
                .await
                .map_err(|_| AppError::Database(crate::db::DbError::Cancelled))??;
            // Changing one's own password keeps this session (Django's
            // update_session_auth_hash); every other session of the user ends.
            let keep = (id == staff.user_id).then(|| staff.token_hash.clone());
            state
                .db
                .run(move |conn| set_password_hash(conn, id, &hash, keep.as_deref()))
                .await?;
            let location = format!("/admin/auth/user/{id}/change/");
            Ok(redirect_with_message(&req, &location, "Password changed successfully."))
        }
        Err(errors) => {
            render_form(
                &req,
                &state,
                &staff,
                model,
                password_page(id, &username),
                &form,
                &errors,
            )
            .await
        }
    }
}
