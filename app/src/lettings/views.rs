//! Handlers: read the input, call one query, render one template (through the page cache).

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::model::{letting, lettings, LettingDetail, LettingSummary};
use crate::errors::AppError;
use crate::ids::parse_id;
use crate::page_cache::cached_page;
use crate::state::AppState;
use crate::templates::render;

#[derive(Serialize)]
struct LettingsPage {
    lettings: Vec<LettingSummary>,
}

pub async fn index(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    cached_page(&state, "lettings", async {
        let lettings = lettings(&state.db).await?;
        Ok(render("lettings/index.html", &LettingsPage { lettings })?)
    })
    .await
}

#[derive(Serialize)]
struct LettingPage {
    letting: LettingDetail,
}

pub async fn detail(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id).ok_or(AppError::NotFound)?;
    cached_page(&state, &format!("letting:{id}"), async {
        let letting = letting(&state.db, id).await?.ok_or(AppError::NotFound)?;
        Ok(render("lettings/letting.html", &LettingPage { letting })?)
    })
    .await
}
