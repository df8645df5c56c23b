//! Handlers: read the input, call one query, render one template (through the page cache).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::model::{profile, profiles, ProfileSummary};
use crate::errors::AppError;
use crate::page_cache::cached_page;
use crate::pagination::{Page, PageNav, PageRequest};
use crate::state::AppState;
use crate::templates::render;

#[derive(Serialize)]
struct ProfilesPage {
    profiles: Vec<ProfileSummary>,
    /// Previous/next links; none when the list fits on one page.
    pages: Option<PageNav>,
}

/// `/profiles/?page=N`: one page of `PAGE_SIZE` rows; a junk or past-the-end page is a 404.
pub async fn index(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let page = PageRequest::from_query(req.query_string(), state.settings.page_size).ok_or(AppError::NotFound)?;
    cached_page(&state.pages, &format!("profiles:{}", page.number), async {
        let rows = profiles(&state.db, page).await?;
        let page = Page::from_rows(rows, page).ok_or(AppError::NotFound)?;
        let pages = page.nav("/profiles/");
        Ok(render(
            "profiles/index.html",
            &ProfilesPage {
                profiles: page.rows,
                pages,
            },
        )?)
    })
    .await
}

pub async fn detail(state: web::Data<AppState>, username: web::Path<String>) -> Result<HttpResponse, AppError> {
    let username = username.into_inner();
    let key = format!("profile:{username}");
    cached_page(&state.pages, &key, async {
        let profile = profile(&state.db, username).await?.ok_or(AppError::NotFound)?;
        // Its fields are the template's top-level names (`{{ email }}`): see `LettingPage`.
        Ok(render("profiles/profile.html", &profile)?)
    })
    .await
}
