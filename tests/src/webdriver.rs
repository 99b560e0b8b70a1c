//! A real browser for the UI tests: Debian's `chromedriver` driving headless
//! `chromium`, spoken to in the W3C WebDriver protocol (JSON over HTTP, sent
//! with curl, as the HTTP API tests send theirs). `./scripts/test` installs
//! both when missing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::curl;

/// How long a page is given to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(15);

/// The key WebDriver names an element reference by.
pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser session; the driver and the browser stop when it drops.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    session: String,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless session.
    pub fn start() -> Browser {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let driver_path =
            std::env::var("VAULT_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{driver_path}: {e} (./scripts/test installs chromium-driver)")
            });
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let browser =
            std::env::var("VAULT_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-extensions",
                ],
            },
        }}});
        let answer = send("POST", &format!("{base}/session"), Some(&capabilities));
        let id = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        Browser {
            driver,
            session: format!("{base}/session/{id}"),
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.or_else(|| (method == "POST").then(|| json!({})));
        send(method, &format!("{}/{path}", self.session), body.as_ref())
    }

    /// Loads `url` and waits for it.
    pub fn goto(&self, url: &str) {
        self.command("POST", "url", Some(json!({"url": url})));
    }

    /// The first element matching `css`, waited for.
    pub fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(id) = self.try_find(css) {
                return id;
            }
            assert!(Instant::now() < deadline, "no element {css:?} on the page");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn try_find(&self, css: &str) -> Option<String> {
        let found = try_send(
            "POST",
            &format!("{}/element", self.session),
            Some(&json!({"using": "css selector", "value": css})),
        )
        .ok()?;
        found[ELEMENT].as_str().map(str::to_owned)
    }

    /// Every element matching `css` now.
    pub fn find_all(&self, css: &str) -> Vec<String> {
        let found = self.command(
            "POST",
            "elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until the first element matching `css` is shown (not hidden).
    pub fn wait_visible(&self, css: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let shown = self.try_find(css).is_some_and(|id| {
                self.command("GET", &format!("element/{id}/displayed"), None) == json!(true)
            });
            if shown {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css:?} was never shown; the page says {:?}",
                self.try_find("body").map(|id| self.element_text(&id))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The rendered text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.element_text(&id)
    }

    /// The rendered text of the element `id`.
    pub fn element_text(&self, id: &str) -> String {
        self.command("GET", &format!("element/{id}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the text of `css` satisfies `good`; returns it.
    pub fn wait_text(&self, css: &str, what: &str, good: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.try_find(css).map(|id| self.element_text(&id));
            if let Some(text) = text.filter(|t| good(t)) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css:?} never showed {what}; it shows {:?}; the page says {:?}",
                self.try_find(css).map(|id| self.element_text(&id)),
                self.try_find("body").map(|id| self.element_text(&id))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// An attribute or property of the first element matching `css`.
    pub fn property(&self, css: &str, name: &str) -> Value {
        let id = self.find(css);
        self.command("GET", &format!("element/{id}/property/{name}"), None)
    }

    /// Clears the field `css` and types `text` into it.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.command("POST", &format!("element/{id}/clear"), None);
        self.command(
            "POST",
            &format!("element/{id}/value"),
            Some(json!({"text": text})),
        );
    }

    /// Clicks the first element matching `css`.
    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.click_element(&id);
    }

    /// Clicks the element `id`.
    pub fn click_element(&self, id: &str) {
        self.command("POST", &format!("element/{id}/click"), None);
    }

    /// Presses keys as the keyboard would (WebDriver's key codes, e.g.
    /// `"\u{E004}"` for Tab) into the focused element.
    pub fn press(&self, keys: &str) {
        let id = self.active_element();
        self.command(
            "POST",
            &format!("element/{id}/value"),
            Some(json!({"text": keys})),
        );
    }

    /// The element that has the focus.
    pub fn active_element(&self) -> String {
        let found = self.command("GET", "element/active", None);
        found[ELEMENT].as_str().unwrap_or_default().to_owned()
    }

    /// Accepts the `confirm()` the page shows, once it shows one.
    pub fn accept_dialog(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let url = format!("{}/alert/accept", self.session);
            if try_send("POST", &url, Some(&json!({}))).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "no dialog to accept");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `script` (a function body) in the page with `args`; its result.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Everything the page keeps beyond its memory: its address, the
    /// cookies the browser holds for it (HttpOnly ones too) and those the
    /// page sees, local and session storage, and its IndexedDB databases.
    pub fn kept_outside_memory(&self) -> Value {
        let cookies = self.command("GET", "cookie", None);
        let stores = self.command(
            "POST",
            "execute/async",
            Some(json!({
                "script": "const done = arguments[arguments.length - 1];
                    indexedDB.databases().then(dbs => done({
                        url: location.href,
                        document_cookie: document.cookie,
                        local_storage: Object.entries(localStorage),
                        session_storage: Object.entries(sessionStorage),
                        indexed_db: dbs.map(d => d.name),
                    }));",
                "args": [],
            })),
        );
        let mut kept = stores;
        kept["cookies"] = cookies;
        kept
    }

    /// Writes a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let png = self.command("GET", "screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = try_send("DELETE", &self.session, None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One WebDriver call; its `value`, or the driver's error.
fn try_send(method: &str, url: &str, body: Option<&Value>) -> Result<Value, Value> {
    let text;
    let mut args = vec!["-X", method, "-H", "Content-Type: application/json"];
    if let Some(body) = body {
        text = body.to_string();
        args.extend(["-d", &text]);
    }
    args.push(url);
    let (code, answer) = curl(&args);
    let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if code == 200 { Ok(value) } else { Err(value) }
}

fn send(method: &str, url: &str, body: Option<&Value>) -> Value {
    try_send(method, url, body).unwrap_or_else(|e| panic!("WebDriver {method} {url}: {e}"))
}
