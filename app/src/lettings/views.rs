//! Handlers: read the input, call one query, render one template (through the page cache).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::model::{letting, lettings, LettingDetail, LettingSummary};
use crate::errors::AppError;
use crate::ids::parse_id;
use crate::page_cache::cached_page;
use crate::pagination::{Page, PageNav, PageRequest};
use crate::state::AppState;
use crate::templates::render;

#[derive(Serialize)]
struct LettingsPage {
    lettings: Vec<LettingSummary>,
    /// Previous/next links; none when the list fits on one page.
    pages: Option<PageNav>,
}

/// `/lettings/?page=N`: one page of `PAGE_SIZE` rows; a junk or past-the-end page is a 404.
pub async fn index(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let page = PageRequest::from_query(req.query_string(), state.settings.page_size).ok_or(AppError::NotFound)?;
    cached_page(&state.pages, &format!("lettings:{}", page.number), async {
        let rows = lettings(&state.db, page).await?;
        let page = Page::from_rows(rows, page).ok_or(AppError::NotFound)?;
        let pages = page.nav("/lettings/");
        Ok(render(
            "lettings/index.html",
            &LettingsPage {
                lettings: page.rows,
                pages,
            },
        )?)
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
    cached_page(&state.pages, &format!("letting:{id}"), async {
        let letting = letting(&state.db, id).await?.ok_or(AppError::NotFound)?;
        Ok(render("lettings/letting.html", &LettingPage::new(&letting))?)
    })
    .await
}
