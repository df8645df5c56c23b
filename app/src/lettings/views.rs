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

/// The letting page's context: each value the page shows under its own top-level name
/// (`{{ city }}`, not `{{ letting.address.city }}`; the original's view passed `title`
/// and `address`). Every `.` in a tera lookup costs two string replacements and their
/// allocations; on this page they were most of the render.
#[derive(Serialize)]
pub(crate) struct LettingPage<'a> {
    title: &'a str,
    number: i32,
    street: &'a str,
    city: &'a str,
    state: &'a str,
    zip_code: i32,
    country_iso_code: &'a str,
}

impl<'a> LettingPage<'a> {
    pub(crate) fn new(letting: &'a LettingDetail) -> Self {
        let address = &letting.address;
        LettingPage {
            title: &letting.title,
            number: address.number,
            street: &address.street,
            city: &address.city,
            state: &address.state,
            zip_code: address.zip_code,
            country_iso_code: &address.country_iso_code,
        }
    }
}

pub async fn detail(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = parse_id(&id).ok_or(AppError::NotFound)?;
    cached_page(&state, &format!("letting:{id}"), async {
        let letting = letting(&state.db, id).await?.ok_or(AppError::NotFound)?;
        Ok(render("lettings/letting.html", &LettingPage::new(&letting))?)
    })
    .await
}
