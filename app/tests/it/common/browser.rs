//! The admin driven like a browser: a cookie jar, CSRF tokens read from the pages, a
//! client address given to the site as the router would (`X-Forwarded-For`).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use oc_lettings::manage::import::import_django;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::redirect::Policy;

use super::{django_fixture, header, spawn_app, Backend, TestApp};

/// A browser: its own cookie jar, no automatic redirects.
pub struct Browser {
    pub client: reqwest::Client,
    pub jar: Arc<Jar>,
    pub base: String,
}

pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrfmiddlewaretoken\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser::with_address(app, "10.0.0.1")
    }

    /// A browser whose requests come through the platform's router from `address`.
    pub fn with_address(app: &TestApp, address: &str) -> Browser {
        super::install_crypto();
        let jar = Arc::new(Jar::default());
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(Policy::none())
            .default_headers(headers)
            .build()
            .unwrap();
        Browser {
            client,
            jar,
            base: app.address.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    pub async fn text(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Loads the form page for its CSRF token, then submits `fields` with it.
    pub async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = csrf_token(&self.text(form_page).await);
        let mut all = vec![("csrfmiddlewaretoken", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    pub async fn login(&self, username: &str, password: &str) -> reqwest::Response {
        self.submit(
            "/admin/login/",
            "/admin/login/",
            &[("username", username), ("password", password), ("next", "/admin/")],
        )
        .await
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        let url = self.base.parse().unwrap();
        let cookies = self.jar.cookies(&url)?;
        let prefix = format!("{name}=");
        cookies
            .to_str()
            .unwrap()
            .split("; ")
            .find_map(|c| c.strip_prefix(prefix.as_str()).map(str::to_owned))
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.cookie("oc_session")
    }

    /// Logs in again from an open session (the login page itself redirects a logged-in
    /// visitor, so the form is posted with the token of the CSRF cookie).
    pub async fn login_again(&self, username: &str, password: &str) -> reqwest::Response {
        let signed = self.cookie("oc_csrf").expect("the CSRF cookie from the first login");
        let token = signed.split('.').next().unwrap().to_owned();
        self.post(
            "/admin/login/",
            &[
                ("csrfmiddlewaretoken", &token),
                ("username", username),
                ("password", password),
                ("next", "/admin/"),
            ],
        )
        .await
    }
}

pub fn assert_redirect(response: &reqwest::Response, to: &str) {
    assert_eq!(response.status().as_u16(), 302, "expected a redirect to {to}");
    assert_eq!(header(response, "location"), to);
}

/// The site with the original Django database imported (admin / Abc1234!).
pub async fn site_with_django_data(backend: &Backend) -> TestApp {
    let app = spawn_app(backend, false).await;
    let source = django_fixture("oc-lettings-site.sqlite3", app.database.dir.path());
    import_django(&source, &mut app.db.get().unwrap()).unwrap();
    app
}

pub async fn logged_in_admin(app: &TestApp) -> Browser {
    let browser = Browser::new(app);
    assert_redirect(&browser.login("admin", "Abc1234!").await, "/admin/");
    browser
}
