//! Static assets over real HTTP, from the bytes embedded in the binary: hashed URLs,
//! immutable caching, brotli/gzip by Accept-Encoding, ETag/304, HEAD, content types.
#![allow(clippy::unwrap_used)]

use std::io::Read;

use crate::common::{header, spawn_app, Backend, TestApp};

/// The stylesheet URL the pages link (the content-hashed name).
async fn stylesheet_url(app: &TestApp) -> String {
    let html = app.page("/").await;
    let start = html.find("href=\"/static/css/styles.").unwrap() + "href=\"".len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

fn source_css() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/static/css/styles.css")).unwrap()
}

async fn hashed_url_is_immutable_and_serves_the_file(backend: Backend) {
    let app = spawn_app(&backend, false).await;
    let url = stylesheet_url(&app).await;
    let name = url.rsplit('/').next().unwrap();
    let hash = name.strip_prefix("styles.").unwrap().strip_suffix(".css").unwrap();
    assert_eq!(hash.len(), 12);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));

    let response = app.get(&url).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header(&response, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&response, "content-type"), "text/css; charset=utf-8");
    assert_eq!(header(&response, "vary"), "Accept-Encoding");
    assert_eq!(header(&response, "content-encoding"), "");
    assert!(header(&response, "etag").starts_with('"'));
    assert_eq!(response.bytes().await.unwrap().to_vec(), source_css());
}

async fn unhashed_name_still_works_with_a_short_cache(backend: Backend) {
    let app = spawn_app(&backend, false).await;
    let response = app.get("/static/css/styles.css").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, "cache-control"), "public, max-age=60");
    assert_eq!(response.bytes().await.unwrap().to_vec(), source_css());
}

async fn brotli_and_gzip_are_chosen_by_accept_encoding(backend: Backend) {
    let app = spawn_app(&backend, false).await;
    let url = stylesheet_url(&app).await;

    let response = app.get_with(&url, &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(header(&response, "content-encoding"), "br");
    assert_eq!(header(&response, "vary"), "Accept-Encoding");
    let br_tag = header(&response, "etag");
    let body = response.bytes().await.unwrap();
    assert!(body.len() < source_css().len());
    let mut decoded = Vec::new();
    brotli::Decompressor::new(&body[..], 4096)
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, source_css());

    let response = app.get_with(&url, &[("accept-encoding", "gzip")]).await;
    assert_eq!(header(&response, "content-encoding"), "gzip");
    let gz_tag = header(&response, "etag");
    let body = response.bytes().await.unwrap();
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, source_css());

    let response = app.get_with(&url, &[("accept-encoding", "br;q=0, gzip;q=0")]).await;
    assert_eq!(header(&response, "content-encoding"), "");
    let plain_tag = header(&response, "etag");

    assert_ne!(br_tag, gz_tag);
    assert_ne!(gz_tag, plain_tag);
    assert_ne!(br_tag, plain_tag);
}

async fn etag_revalidation_answers_304(backend: Backend) {
    let app = spawn_app(&backend, false).await;
    let url = stylesheet_url(&app).await;
    let response = app.get_with(&url, &[("accept-encoding", "br")]).await;
    let tag = header(&response, "etag");

    for inm in [
        tag.clone(),
        format!("W/{tag}"),
        format!("\"other\", {tag}"),
        "*".to_owned(),
    ] {
        let response = app
            .get_with(&url, &[("accept-encoding", "br"), ("if-none-match", &inm)])
            .await;
        assert_eq!(response.status().as_u16(), 304, "If-None-Match: {inm}");
        assert_eq!(header(&response, "etag"), tag);
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(response.bytes().await.unwrap().is_empty());
    }
    // The brotli tag does not validate the gzip representation.
    let response = app
        .get_with(&url, &[("accept-encoding", "gzip"), ("if-none-match", &tag)])
        .await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn head_sends_headers_without_the_body(backend: Backend) {
    let app = spawn_app(&backend, false).await;
    let url = stylesheet_url(&app).await;
    let response = app.head(&url).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, "content-type"), "text/css; charset=utf-8");
    assert_eq!(header(&response, "content-length"), source_css().len().to_string());
    assert!(response.bytes().await.unwrap().is_empty());
}

async fn every_linked_image_is_served_with_its_type(backend: Backend) {
    let app = spawn_app(&backend, false).await;
    let html = app.page("/").await;
    let logo = html.split("<img src=\"").nth(1).unwrap().split('"').next().unwrap();
    assert!(logo.starts_with("/static/img/logo."), "{logo}");
    let response = app.get(logo).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(header(&response, "content-type"), "image/svg+xml");
    assert!(response.text().await.unwrap().contains("<svg"));
    let icon = html
        .split("rel=\"icon\" type=\"image/svg+xml\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(app.get(icon).await.status().as_u16(), 200);
}

/// Only `/static/<a known asset>` serves bytes, only to GET and HEAD; the rest of the
/// prefix is the site's 404 page, other methods a 405.
async fn the_static_prefix_serves_assets_and_nothing_else(backend: Backend) {
    let app = spawn_app(&backend, false).await;
    let url = stylesheet_url(&app).await;
    for path in [
        "/static",
        "/static/",
        "/staticcss/styles.css",
        "/static/css/",
        "/static/css/nope.css",
        "/static//css/styles.css",
        "/static/css%2Fstyles.css",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status().as_u16(), 404, "{path}");
        assert!(
            response.text().await.unwrap().contains("<html"),
            "the 404 page for {path}"
        );
    }
    let posted = app.client.post(format!("{}{url}", app.address)).send().await.unwrap();
    assert_eq!(posted.status().as_u16(), 405);
    assert_eq!(header(&posted, "allow"), "GET, HEAD");
    let deleted = app.client.delete(format!("{}{url}", app.address)).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 405);
    // The security headers are on the asset path too.
    let response = app.get(&url).await;
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(header(&response, "x-request-id").len(), 32);
}

on_both_backends!(async:
    the_static_prefix_serves_assets_and_nothing_else,
    hashed_url_is_immutable_and_serves_the_file,
    unhashed_name_still_works_with_a_short_cache,
    brotli_and_gzip_are_chosen_by_accept_encoding,
    etag_revalidation_answers_304,
    head_sends_headers_without_the_body,
    every_linked_image_is_served_with_its_type,
);
