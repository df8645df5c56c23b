//! Handlers: read the input, call one query, render one template (through the page cache).

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::model::{profile, profiles, ProfileSummary};
use crate::errors::AppError;
use crate::page_cache::cached_page;
use crate::state::AppState;
use crate::templates::render;

#[derive(Serialize)]
struct ProfilesPage {
    profiles: Vec<ProfileSummary>,
}

pub async fn index(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    cached_page(&state, "profiles", async {
        let profiles = profiles(&state.db).await?;
        Ok(render("profiles/index.html", &ProfilesPage { profiles })?)
    })
    .await
}

pub async fn detail(state: web::Data<AppState>, username: web::Path<String>) -> Result<HttpResponse, AppError> {
    let username = username.into_inner();
    let key = format!("profile:{username}");
    cached_page(&state, &key, async {
        let profile = profile(&state.db, username).await?.ok_or(AppError::NotFound)?;
        // Its fields are the template's top-level names (`{{ email }}`): see `LettingPage`.
        Ok(render("profiles/profile.html", &profile)?)
    })
    .await
}
