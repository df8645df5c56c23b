//! Tera templates, embedded at build time and parsed once per process.
//! `{{ static_url(path="css/styles.css") }}` links an asset by its content-hashed name;
//! an unknown asset is a rendering error (caught by the tests that render every page).

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header::ContentType;
use actix_web::HttpResponse;
use serde::Serialize;
use tera::{Context, Tera, Value};

use crate::assets;

include!(concat!(env!("OUT_DIR"), "/templates_table.rs"));

/// A template that could not be rendered (a bug: every page is rendered by a test).
#[derive(Debug, Clone, thiserror::Error)]
#[error("template error: {0}")]
pub struct TemplateError(pub String);

static TEMPLATES: LazyLock<Result<Tera, String>> = LazyLock::new(|| build().map_err(|err| describe(&err)));

fn static_url(args: &HashMap<String, Value>) -> tera::Result<Value> {
    let name = args
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| tera::Error::msg("static_url needs a path=\"…\" argument"))?;
    asset_url(name).map(Value::String)
}

/// The URL of the static asset `name`, or the error a template that names no asset gets.
fn asset_url(name: &str) -> tera::Result<String> {
    assets::url(name).ok_or_else(|| tera::Error::msg(format!("no static asset named {name:?}")))
}

/// Django's escaping: the five HTML-special characters, nothing else (Tera's default
/// also rewrites `/`, which makes titles such as "Haus /w Hot Tub" needlessly opaque).
pub fn escape_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

fn build() -> tera::Result<Tera> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![".html"]);
    tera.set_escape_fn(escape_html);
    tera.register_function("static_url", static_url);
    let sources = TEMPLATE_SOURCES
        .iter()
        .map(|(name, source)| Ok((*name, resolve_static_urls(source)?)))
        .collect::<tera::Result<Vec<_>>>()?;
    tera.add_raw_templates(sources)?;
    Ok(tera)
}

/// `{{ static_url(path='css/styles.css') }}` written as the asset's URL itself, once, when
/// the templates are parsed: an asset's URL never changes while the process runs, and a
/// page then renders without a function call per asset (an argument map built and thrown
/// away each time). A call written any other way is left to the `static_url` function.
fn resolve_static_urls(source: &str) -> tera::Result<String> {
    const OPEN: &str = "{{ static_url(path=";
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let call = &rest[start..];
        let resolved = match call.as_bytes().get(OPEN.len()).copied() {
            Some(q @ (b'\'' | b'"')) => {
                let name_start = OPEN.len() + 1;
                let close = format!("{}) }}}}", q as char);
                call[name_start..].find(&close).map(|len| {
                    let name = &call[name_start..name_start + len];
                    (name, name_start + len + close.len())
                })
            }
            _ => None,
        };
        match resolved {
            Some((name, consumed)) => {
                out.push_str(&escape_html(&asset_url(name)?));
                rest = &call[consumed..];
            }
            None => {
                out.push_str(OPEN);
                rest = &call[OPEN.len()..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Tera hides the useful part of an error in its source chain.
fn describe(err: &tera::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Every template's name (for tests and checks).
pub fn names() -> impl Iterator<Item = &'static str> {
    TEMPLATE_SOURCES.iter().map(|(name, _)| *name)
}

pub fn render(name: &str, data: &impl Serialize) -> Result<String, TemplateError> {
    let _span = crate::trace::span("template.render", name);
    let tera = TEMPLATES.as_ref().map_err(|err| TemplateError(err.clone()))?;
    let context = Context::from_serialize(data).map_err(|err| TemplateError(describe(&err)))?;
    tera.render(name, &context).map_err(|err| TemplateError(describe(&err)))
}

/// Renders with a context built by hand (the admin's pages).
pub fn render_context(name: &str, context: &Context) -> Result<String, TemplateError> {
    let _span = crate::trace::span("template.render", name);
    let tera = TEMPLATES.as_ref().map_err(|err| TemplateError(err.clone()))?;
    tera.render(name, context).map_err(|err| TemplateError(describe(&err)))
}

/// A 200 HTML response of an already rendered page.
pub fn html_response(html: actix_web::web::Bytes) -> HttpResponse {
    HttpResponse::Ok().content_type(ContentType::html()).body(html)
}

/// A 200 HTML page.
pub fn render_page(name: &str, data: &impl Serialize) -> Result<HttpResponse, TemplateError> {
    let html = render(name, data)?;
    Ok(HttpResponse::Ok().content_type(ContentType::html()).body(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_templates_parse() {
        assert!(TEMPLATES.is_ok(), "{:?}", TEMPLATES.as_ref().err());
        assert!(names().any(|n| n == "base.html"));
    }

    #[test]
    fn escaping_matches_django() {
        assert_eq!(
            escape_html(r#"<a href="x">'Silo' & /w</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#x27;Silo&#x27; &amp; /w&lt;/a&gt;"
        );
    }

    #[test]
    fn static_urls_are_resolved_when_the_templates_are_parsed() {
        let css = assets::url("css/styles.css").unwrap();
        assert_eq!(
            resolve_static_urls("<link href=\"{{ static_url(path='css/styles.css') }}\"> {{ x }}").unwrap(),
            format!("<link href=\"{css}\"> {{{{ x }}}}")
        );
        assert_eq!(
            resolve_static_urls("{{ static_url(path=\"css/styles.css\") }}").unwrap(),
            css
        );
        // Any other spelling is left to the function, which still works.
        let odd = "{{ static_url(path = 'css/styles.css') }} {{ static_url(path=name) }}";
        assert_eq!(resolve_static_urls(odd).unwrap(), odd);
        let err = resolve_static_urls("{{ static_url(path='css/nope.css') }}").unwrap_err();
        assert!(err.to_string().contains("css/nope.css"), "{err}");
        // No template keeps a call it could have resolved.
        for (name, source) in TEMPLATE_SOURCES {
            assert!(
                !resolve_static_urls(source).unwrap().contains("static_url(path='"),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_assets_fail_rendering() {
        let mut args = HashMap::new();
        args.insert("path".to_owned(), Value::String("css/missing.css".to_owned()));
        assert!(static_url(&args).is_err());
        args.insert("path".to_owned(), Value::String("css/styles.css".to_owned()));
        let url = static_url(&args).unwrap();
        assert!(url.as_str().unwrap().starts_with("/static/css/styles."));
    }

    #[test]
    fn titles_are_html_escaped() {
        let letting = crate::lettings::model::LettingDetail {
            id: 3,
            title: "'Silo Studio' Cottage & <b>".into(),
            address: crate::lettings::model::Address {
                id: 3,
                number: 340,
                street: "Wintergreen Avenue".into(),
                city: "Newport News".into(),
                state: "VA".into(),
                zip_code: 23601,
                country_iso_code: "USA".into(),
            },
        };
        let html = render(
            "lettings/letting.html",
            &crate::lettings::views::LettingPage::new(&letting),
        )
        .unwrap();
        assert!(
            html.contains("&#x27;Silo Studio&#x27; Cottage &amp; &lt;b&gt;"),
            "{html}"
        );
        assert!(!html.contains("<b>"));
    }
}
