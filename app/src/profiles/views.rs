//! Handlers: read the input, call one query, render one template.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::model::{list_profiles, load_profile, ProfileDetail, ProfileSummary};
use crate::errors::AppError;
use crate::startup::AppState;
use crate::templates::render_page;

#[derive(Serialize)]
struct ProfilesPage {
    profiles: Vec<ProfileSummary>,
}

pub async fn index(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let profiles = state.db.run(list_profiles).await?;
    render_page("profiles/index.html", &ProfilesPage { profiles })
}

#[derive(Serialize)]
struct ProfilePage {
    profile: ProfileDetail,
}

pub async fn detail(state: web::Data<AppState>, username: web::Path<String>) -> Result<HttpResponse, AppError> {
    let username = username.into_inner();
    let profile = state
        .db
        .run(move |conn| load_profile(conn, &username))
        .await?
        .ok_or(AppError::NotFound)?;
    render_page("profiles/profile.html", &ProfilePage { profile })
}
