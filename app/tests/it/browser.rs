//! One real browser: headless Chromium (driven through chromedriver's WebDriver API) logs
//! in to the admin with the Django site's password and edits a letting through the page.
//! The screenshot of the result is kept in `target/test-artifacts/`. Where Chromium or
//! chromedriver is absent, the test says so in one line.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use diesel::prelude::*;
use oc_lettings::db::schema::{lettings_address, lettings_letting};
use oc_lettings::manage::import::import_django;
use serde_json::{json, Value};

use crate::common::{django_fixture, spawn_app, Backend, TestApp};

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Driver {
    async fn start(chromedriver: &Path, chromium: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        crate::common::install_crypto();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
            }
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        Driver {
            child,
            base,
            session,
            http,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(reply["value"].get("error").is_none(), "WebDriver {path}: {reply}");
        reply["value"].clone()
    }

    /// The browser console's messages since the last call (chromedriver's log endpoint).
    async fn console(&self) -> Vec<String> {
        let entries = self
            .call(reqwest::Method::POST, "/se/log", Some(json!({ "type": "browser" })))
            .await;
        entries
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Waits (up to 15 s) until the page's URL ends with `suffix`: a click's navigation
    /// may still be under way when the click returns.
    async fn wait_for_url(&self, suffix: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let url = self.url().await;
            if url.ends_with(suffix) {
                return;
            }
            assert!(Instant::now() < deadline, "still at {url}, expected …{suffix}");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 15 s) until the page's URL holds `part`.
    async fn wait_for_url_containing(&self, part: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let url = self.url().await;
            if url.contains(part) {
                return;
            }
            assert!(Instant::now() < deadline, "still at {url}, expected …{part}…");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (up to 15 s) until the page holds `text` (a form's POST answers at the same
    /// URL); the page's source.
    async fn wait_for_text(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let source = self.source().await;
            if source.contains(text) {
                return source;
            }
            assert!(Instant::now() < deadline, "no “{text}” in {source}");
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn screenshot(&self, path: &Path) {
        let encoded = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

/// The browser console's messages that report a Content-Security-Policy violation.
fn violations(messages: Vec<String>) -> Vec<String> {
    messages
        .into_iter()
        .filter(|m| m.contains("Content Security Policy") || m.contains("Refused to"))
        .collect()
}

impl Driver {
    /// Logs in to the admin as the Django site's `admin`, and waits for the index.
    async fn log_in_as_admin(&self, app: &TestApp) {
        self.goto(&format!("{}/admin/login/", app.address)).await;
        self.type_into("#id_username", "admin").await;
        self.type_into("#id_password", "Abc1234!").await;
        self.click("button[type=submit]").await;
        self.wait_for_url("/admin/").await;
    }
}

/// The site with the original Django data, and headless Chromium driven by chromedriver;
/// `None` (after one `SKIPPED:` line naming `what`) where either program is missing.
async fn site_in_chromium(what: &str) -> Option<(TestApp, Driver)> {
    let (Some(chromedriver), Some(chromium)) = (
        find_program("CHROMEDRIVER", &["chromedriver"]),
        find_program("CHROME_BIN", &["chromium", "chromium-browser", "google-chrome"]),
    ) else {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: {what} (no chromium/chromedriver; apt-get install chromium chromium-driver)"
        );
        return None;
    };
    let app = spawn_app(&Backend::Sqlite, false).await;
    let source = django_fixture("oc-lettings-site.sqlite3", app.database.dir.path());
    import_django(&source, &mut app.db.get().unwrap()).unwrap();
    let driver = Driver::start(&chromedriver, &chromium).await;
    Some((app, driver))
}

#[actix_web::test]
async fn staff_log_in_and_edit_a_letting_in_chromium() {
    let Some((app, driver)) = site_in_chromium("browser test").await else {
        return;
    };

    driver
        .goto(&format!("{}/admin/lettings/letting/1/change/", app.address))
        .await;
    assert!(
        driver.url().await.contains("/admin/login/?next="),
        "sent to the login page first"
    );
    driver.type_into("#id_username", "admin").await;
    driver.type_into("#id_password", "Abc1234!").await;
    driver.click("button[type=submit]").await;
    driver.wait_for_url("/admin/lettings/letting/1/change/").await;

    driver.type_into("#id_title", "Joshua Tree Green Haus, renovated").await;
    driver.click("button[name=_save]").await;
    driver.wait_for_url("/admin/lettings/letting/").await;
    let page = driver.source().await;
    assert!(
        page.contains("The letting “Joshua Tree Green Haus, renovated” was changed successfully."),
        "{page}"
    );

    let artifact = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/admin-letting-edited.png");
    driver.screenshot(&artifact).await;
    assert!(std::fs::metadata(&artifact).unwrap().len() > 1000);
    let _ = writeln!(std::io::stderr(), "\nscreenshot: {}", artifact.display());

    // The edit is in the object's history, as a person sees it.
    driver
        .goto(&format!("{}/admin/lettings/letting/1/history/", app.address))
        .await;
    let history = driver.source().await;
    assert!(
        history.contains("Change history: Joshua Tree Green Haus, renovated") && history.contains("Changed Title."),
        "{history}"
    );

    // A letting's address through its search (the widget's script, under the CSP): type
    // part of the street, pick the row, and its id and name fill the form.
    driver
        .goto(&format!("{}/admin/lettings/letting/add/", app.address))
        .await;
    driver.type_into(".related-search", "bedf").await;
    driver.wait_for_text("class=\"related-choice\"").await;
    driver.click(".related-choice").await;
    let picked = driver
        .call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({
                "script": "return [document.getElementById('id_address').value, document.getElementById('id_address_label').textContent];",
                "args": []
            })),
        )
        .await;
    assert_eq!(picked, json!(["1", "7217 Bedford Street"]));
    // Sent, the form says the address is taken, and still names it.
    driver.type_into("#id_title", "A second letting").await;
    driver.click("button[name=_save]").await;
    let sent = driver.wait_for_text("Letting with this Address already exists.").await;
    assert!(
        sent.contains("id=\"id_address_label\">7217 Bedford Street</strong>"),
        "{sent}"
    );

    // "Select all" checks every row (the list's script, under the CSP), and "Delete
    // selected" asks first; "No, take me back" deletes nothing.
    driver.goto(&format!("{}/admin/lettings/address/", app.address)).await;
    assert!(driver.source().await.contains("0 of 6 selected"));
    driver.click("#action-toggle").await;
    let list = driver.source().await;
    assert!(list.contains("6 of 6 selected"), "{list}");
    driver.click("select[name=action] option[value=delete_selected]").await;
    driver.click("button[name=index]").await;
    let confirm = driver
        .wait_for_text("Are you sure you want to delete the selected addresses?")
        .await;
    assert_eq!(confirm.matches("Letting: ").count(), 6, "{confirm}");
    driver.click("a.button:not(.deletelink)").await;
    driver.wait_for_text("Select address to change").await;
    let addresses: i64 = lettings_address::table
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(addresses, 6);

    let title: String = lettings_letting::table
        .find(1)
        .select(lettings_letting::title)
        .first(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(title, "Joshua Tree Green Haus, renovated");
    assert!(app
        .page("/lettings/1/")
        .await
        .contains("Joshua Tree Green Haus, renovated"));
    driver.call(reqwest::Method::DELETE, "", None).await;
}

#[actix_web::test]
async fn no_page_breaks_the_content_security_policy() {
    let Some((app, driver)) = site_in_chromium("CSP browser test").await else {
        return;
    };

    let public = [
        "/",
        "/lettings/",
        "/lettings/1/",
        "/profiles/",
        "/profiles/HeadlinesGazer/",
        "/no-such-page/",
    ];
    for path in public {
        driver.goto(&format!("{}{path}", app.address)).await;
        let found = violations(driver.console().await);
        assert!(found.is_empty(), "{path}: {found:?}");
    }
    driver.log_in_as_admin(&app).await;
    let admin = [
        "/admin/",
        "/admin/lettings/",
        "/admin/lettings/letting/",
        "/admin/lettings/letting/1/change/",
        "/admin/lettings/letting/add/",
        "/admin/lettings/letting/1/delete/",
        "/admin/lettings/address/?q=a",
        "/admin/lettings/address/?state__exact=GA",
        "/admin/profiles/profile/",
        "/admin/auth/group/",
        "/admin/auth/group/add/",
        "/admin/auth/user/",
        "/admin/auth/user/1/change/",
        "/admin/auth/user/1/password/",
        "/admin/debug/error/",
        "/admin/audit/",
        "/admin/audit/?model=lettings.letting&since=bad",
        "/admin/two_factor/",
        "/admin/no/such/page/",
        "/admin/lettings/letting/99/history/",
        "/admin/logout/",
    ];
    // The new pages of issue 28, kept as screenshots (the docs show them).
    let shots = [
        ("/admin/audit/", "admin-audit-log.png"),
        ("/admin/lettings/", "admin-app-index.png"),
        ("/admin/no/such/page/", "admin-not-found.png"),
        ("/admin/lettings/letting/99/history/", "admin-deleted-object.png"),
    ];
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    for path in admin {
        driver.goto(&format!("{}{path}", app.address)).await;
        let found = violations(driver.console().await);
        assert!(found.is_empty(), "{path}: {found:?}");
        if let Some((_, name)) = shots.iter().find(|(p, _)| *p == path) {
            driver.screenshot(&artifacts.join(name)).await;
        }
    }

    // The check can fail: an inline script added to a page is refused, and said so.
    driver
        .call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({
                "script": "const s = document.createElement('script'); s.textContent = 'window.ran = 1'; document.body.appendChild(s); return window.ran === undefined;",
                "args": []
            })),
        )
        .await;
    let found = violations(driver.console().await);
    assert!(
        !found.is_empty(),
        "an inline script was not reported as a CSP violation"
    );
    driver.call(reqwest::Method::DELETE, "", None).await;
}

/// The second factor in Chromium (issue 29): the QR code, drawn as an SVG data: image,
/// loads under the strict CSP; enrolment, then a login that takes the code, with no CSP
/// violation on any of the pages.
#[actix_web::test]
async fn two_factor_enrolment_and_login_in_chromium() {
    let Some((app, driver)) = site_in_chromium("two-factor browser test").await else {
        return;
    };
    let violations = || async {
        driver
            .console()
            .await
            .into_iter()
            .filter(|m| m.contains("Content Security Policy") || m.contains("Refused to"))
            .collect::<Vec<_>>()
    };
    let code = |secret: &str, steps: i64| {
        let step = oc_lettings::accounts::totp::step_at(chrono::Utc::now().timestamp()) + steps;
        oc_lettings::accounts::totp::code_at(secret, step).unwrap()
    };
    driver.log_in_as_admin(&app).await;
    driver.goto(&format!("{}/admin/two_factor/", app.address)).await;
    driver.click("button[type=submit].default").await;
    driver.wait_for_url("/admin/two_factor/setup/").await;
    let loaded = driver
        .call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({
                "script": "const img = document.querySelector('img.qr'); return img.complete ? img.naturalWidth : -1;",
                "args": []
            })),
        )
        .await;
    assert!(loaded.as_i64().unwrap() > 0, "the QR code did not load: {loaded}");
    assert_eq!(violations().await, Vec::<String>::new(), "set-up page");
    let artifact = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/admin-two-factor-setup.png");
    driver.screenshot(&artifact).await;

    let source = driver.source().await;
    let start = source.find("<code class=\"secret\">").unwrap() + "<code class=\"secret\">".len();
    let secret = source[start..start + source[start..].find("</code>").unwrap()].replace(' ', "");
    driver.type_into("#id_code", &code(&secret, 0)).await;
    driver.click("button[type=submit].default").await;
    driver.wait_for_text("Keep these recovery codes somewhere safe").await;
    assert_eq!(violations().await, Vec::<String>::new(), "recovery codes page");

    // Log out, and in again: the password, then the code.
    driver.goto(&format!("{}/admin/logout/", app.address)).await;
    driver.click("main button[type=submit]").await;
    driver.wait_for_text("Logged out").await;
    driver.goto(&format!("{}/admin/login/", app.address)).await;
    driver.type_into("#id_username", "admin").await;
    driver.type_into("#id_password", "Abc1234!").await;
    driver.click("button[type=submit]").await;
    driver.wait_for_url("/admin/login/two_factor/?next=%2Fadmin%2F").await;
    assert_eq!(violations().await, Vec::<String>::new(), "code page");
    driver.type_into("#id_code", &code(&secret, 1)).await;
    driver.click("button[type=submit]").await;
    driver.wait_for_url("/admin/").await;
    driver.wait_for_text("Site administration").await;
    assert_eq!(violations().await, Vec::<String>::new(), "after the code");
    driver.call(reqwest::Method::DELETE, "", None).await;
}

/// At a phone's 390 px (issue 28), no admin page scrolls sideways: a wide table scrolls
/// inside its own box, the header and the filters wrap.
#[actix_web::test]
async fn the_admin_fits_a_390_px_phone() {
    let Some((app, driver)) = site_in_chromium("390 px browser test").await else {
        return;
    };
    driver
        .call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": 390, "height": 844})),
        )
        .await;
    driver.log_in_as_admin(&app).await;
    let measure = json!({
        "script": "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
        "args": []
    });
    let mut overflowing = Vec::new();
    for path in [
        "/admin/",
        "/admin/lettings/",
        "/admin/lettings/letting/",
        "/admin/lettings/address/",
        "/admin/lettings/letting/1/change/",
        "/admin/lettings/letting/1/history/",
        "/admin/auth/user/",
        "/admin/auth/user/1/change/",
        "/admin/audit/",
        "/admin/two_factor/",
        "/admin/password_change/",
        "/admin/no/such/page/",
    ] {
        driver.goto(&format!("{}{path}", app.address)).await;
        let widths = driver
            .call(reqwest::Method::POST, "/execute/sync", Some(measure.clone()))
            .await;
        let (scroll, client) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
        assert!(client <= 400, "the window is a phone's: {client} px");
        if scroll > client {
            overflowing.push(format!("{path}: {scroll} > {client}"));
        }
        if path == "/admin/lettings/address/" {
            let artifact = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/admin-list-390px.png");
            driver.screenshot(&artifact).await;
        }
    }
    assert!(overflowing.is_empty(), "pages wider than the phone: {overflowing:?}");
    driver.call(reqwest::Method::DELETE, "", None).await;
}

impl Driver {
    async fn handles(&self) -> Vec<String> {
        let handles = self.call(reqwest::Method::GET, "/window/handles", None).await;
        handles
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits (up to 15 s) for `count` windows; their handles.
    async fn wait_for_windows(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let handles = self.handles().await;
            if handles.len() == count {
                return handles;
            }
            assert!(Instant::now() < deadline, "{} windows, expected {count}", handles.len());
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn switch_to(&self, handle: &str) {
        self.call(reqwest::Method::POST, "/window", Some(json!({ "handle": handle })))
            .await;
    }

    async fn run(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    async fn fill_address(&self, street: &str) {
        for (field, value) in [
            ("number", "12"),
            ("street", street),
            ("city", "Costa Mesa"),
            ("state", "CA"),
            ("zip_code", "92626"),
            ("country_iso_code", "USA"),
        ] {
            self.type_into(&format!("#id_{field}"), value).await;
        }
    }
}

/// Django's related-object popups in Chromium (issue 28), under the strict CSP: "Add
/// another" beside the letting's address opens the address form in a popup window; once
/// saved there, the popup closes itself and the letting form has the new address chosen,
/// named, with its "Change" link; "Change" edits it in a popup the same way. The plain
/// links (what a browser without JavaScript follows) come back to the form with the row
/// chosen. No page of it breaks the CSP.
#[actix_web::test]
async fn related_objects_open_in_popups_and_as_plain_links() {
    let Some((app, driver)) = site_in_chromium("related-object popups browser test").await else {
        return;
    };
    driver.log_in_as_admin(&app).await;
    driver
        .goto(&format!("{}/admin/lettings/letting/add/", app.address))
        .await;
    let main = driver.handles().await[0].clone();
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    driver.screenshot(&artifacts.join("admin-letting-add.png")).await;
    let hidden = driver
        .run("return document.querySelector('.related-widget .change-related').hidden;")
        .await;
    assert_eq!(hidden, json!(true), "no address chosen yet: no Change link shown");

    // Add another → a popup with the address form, without the admin's header.
    driver.click("a.add-related").await;
    let windows = driver.wait_for_windows(2).await;
    let popup = windows.iter().find(|h| **h != main).unwrap().clone();
    driver.switch_to(&popup).await;
    driver.wait_for_url("_popup=1").await;
    let source = driver.wait_for_text("name=\"_popup\" value=\"1\"").await;
    assert!(!source.contains("admin-header"), "a popup has no header");
    assert!(violations(driver.console().await).is_empty());
    driver.screenshot(&artifacts.join("admin-related-popup.png")).await;
    driver.fill_address("Popup Avenue").await;
    driver.click("button[name=_save]").await;

    // Saved: the popup hands the address back and closes; the form has it chosen.
    driver.wait_for_windows(1).await;
    driver.switch_to(&main).await;
    let address_id: i32 = {
        use diesel::prelude::*;
        lettings_address::table
            .filter(lettings_address::street.eq("Popup Avenue"))
            .select(lettings_address::id)
            .first(&mut *app.db.get().unwrap())
            .unwrap()
    };
    let chosen = driver
        .run(
            "const w = document.querySelector('.related-widget');\
             const c = w.querySelector('.change-related');\
             return [document.getElementById('id_address').value, w.querySelector('.related-label').textContent, c.hidden, c.getAttribute('href')];",
        )
        .await;
    assert_eq!(chosen[0], json!(address_id.to_string()), "{chosen}");
    assert_eq!(chosen[1], json!("12 Popup Avenue"), "{chosen}");
    assert_eq!(chosen[2], json!(false), "{chosen}");
    assert_eq!(
        chosen[3],
        json!(format!("/admin/lettings/address/{address_id}/change/")),
        "{chosen}"
    );
    assert!(violations(driver.console().await).is_empty());

    // Change → the chosen address's form in a popup; saved, the new name shows here.
    driver.click("a.change-related").await;
    let windows = driver.wait_for_windows(2).await;
    let popup = windows.iter().find(|h| **h != main).unwrap().clone();
    driver.switch_to(&popup).await;
    driver.wait_for_text("name=\"_popup\" value=\"1\"").await;
    driver.type_into("#id_street", "Popup Boulevard").await;
    driver.click("button[name=_save]").await;
    driver.wait_for_windows(1).await;
    driver.switch_to(&main).await;
    let label = driver
        .run("return document.querySelector('.related-widget .related-label').textContent;")
        .await;
    assert_eq!(label, json!("12 Popup Boulevard"));
    // The letting saves with it.
    driver.type_into("#id_title", "Popup Cottage").await;
    driver.click("button[name=_save]").await;
    driver.wait_for_url("/admin/lettings/letting/").await;
    let saved: i32 = {
        use diesel::prelude::*;
        lettings_letting::table
            .filter(lettings_letting::title.eq("Popup Cottage"))
            .select(lettings_letting::address_id)
            .first(&mut *app.db.get().unwrap())
            .unwrap()
    };
    assert_eq!(saved, address_id);

    // The plain link, as followed without JavaScript: the address form, then back to the
    // letting form with the new address chosen.
    driver
        .goto(&format!("{}/admin/lettings/letting/add/", app.address))
        .await;
    let href = driver.run("return document.querySelector('a.add-related').href;").await;
    driver.goto(href.as_str().unwrap()).await;
    driver.fill_address("Plain Link Lane").await;
    driver.click("button[name=_save]").await;
    driver
        .wait_for_url_containing("/admin/lettings/letting/add/?address=")
        .await;
    let source = driver.source().await;
    assert!(source.contains("12 Plain Link Lane"), "{source}");
    assert!(violations(driver.console().await).is_empty());
    driver.call(reqwest::Method::DELETE, "", None).await;
}
