//! What the server's tests share: a real server on port 0 called over HTTP, a small
//! simulated retailer with one user per role, and a PostgreSQL database of its own.
#![allow(dead_code)]

pub mod chain;

use std::sync::Arc;
use std::time::Duration;
use unico_app::App;
use unico_app::staff::{Caller, Role};
use unico_server::{Config, Server};

pub const PASSWORD: &str = "correct horse battery";

pub struct Running {
    pub base: String,
    pub agent: ureq::Agent,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    pub retry_after: Option<String>,
    /// Where a redirect points.
    pub location: Option<String>,
}

impl Running {
    pub fn start(apps: Vec<(String, Arc<App>)>, config: Config) -> Running {
        let server = Server::from_apps(apps, config).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                server
                    .serve(listener, async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
        Running { base: format!("http://{addr}"), agent, stop: Some(tx), thread: Some(thread) }
    }

    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Answer {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match method {
            "GET" | "DELETE" => {
                let mut r = if method == "GET" { self.agent.get(&url) } else { self.agent.delete(&url) };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = if method == "POST" { self.agent.post(&url) } else { self.agent.put(&url) };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.header("Content-Type", "application/json").send(body.unwrap_or(""))
            }
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Answer { status, body, retry_after, location }
    }

    /// Uploads `content` as the `file` part of a multipart form to `path`.
    pub fn upload(&self, path: &str, token: &str, filename: &str, content: &str) -> Answer {
        let boundary = "unico-test-boundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\r\n{content}\r\n--{boundary}--\r\n"
        );
        let mut r = self
            .agent
            .post(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", &format!("multipart/form-data; boundary={boundary}"))
            .send(body.as_str())
            .unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
            retry_after: None,
            location: None,
        }
    }

    /// The id of the customer a card names, found as a client finds it.
    pub fn lookup(&self, token: &str, card: &str) -> i64 {
        let body = serde_json::json!({"reference": card}).to_string();
        let found = self.call("POST", "/api/v1/customers/lookup", Some(token), Some(&body));
        assert_eq!(found.status, 200, "{}", found.body);
        found.body["id"].as_i64().unwrap()
    }

    pub fn login(&self, email: &str, tenant: Option<&str>) -> String {
        let body = serde_json::json!({"email": email, "password": PASSWORD, "tenant": tenant}).to_string();
        let a = self.call("POST", "/api/v1/auth/login", None, Some(&body));
        assert_eq!(a.status, 200, "{email}: {}", a.body);
        a.body["token"].as_str().unwrap().to_string()
    }

    pub fn wait_job(&self, token: &str, answer: &Answer) -> serde_json::Value {
        assert_eq!(answer.status, 202, "{}", answer.body);
        let url = answer.body["status_url"].as_str().unwrap().to_string();
        for _ in 0..600 {
            let j = self.call("GET", &url, Some(token), None);
            assert_eq!(j.status, 200);
            if matches!(j.body["state"].as_str(), Some("done" | "failed")) {
                return j.body;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the job did not end");
    }
}

/// A small simulated chain with its model and one user per role (and a disabled one).
pub fn tenant(dir: &std::path::Path, database_url: Option<String>, seed: u64) -> Arc<App> {
    let env: unico_app::Env =
        Arc::new(move |k: &str| if k == "UNICO_DATABASE_URL" { database_url.clone() } else { None });
    let app = App::init_with(&dir.join("data"), env).unwrap();
    let config = unico_sim::ChainConfig { customers: 200, days: 90, seed, ..Default::default() };
    app.load_simulated_chain(&config, &dir.join("chain"), &unico_app::Silent, &mut |_| {}).unwrap();
    app.build_model(None, None, &unico_app::Silent).unwrap();
    for (email, role, store) in [
        ("admin@example.com", Role::Admin, None),
        ("marketing@example.com", Role::Marketing, None),
        ("store@example.com", Role::StoreManager, Some("S001")),
        ("support@example.com", Role::Support, None),
        ("gone@example.com", Role::Admin, None),
    ] {
        app.add_user(email, role, store, Some(PASSWORD), &Caller::cli()).unwrap();
    }
    Arc::new(app)
}

pub fn config() -> Config {
    Config { logins_per_minute: 1000, ..Default::default() }
}

/// A PostgreSQL database of its own, when the test server is there (always in CI).
pub fn postgres() -> Option<String> {
    let admin = std::env::var("UNICO_TEST_DATABASE_URL");
    assert!(admin.is_ok() || std::env::var_os("CI").is_none(), "CI must run the server's tests on PostgreSQL too");
    let admin = admin.ok()?;
    let name = format!("unico_server_{}", hex::encode(rand::random::<[u8; 6]>()));
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&admin).await.expect("the PostgreSQL test server answers");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
        pool.close().await;
    });
    let (base, _) = admin.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

/// A retailer with a published campaign valid from today whose offers need activation,
/// and a privacy policy: (app, campaign dir).
pub fn app_retailer(dir: &std::path::Path, database_url: Option<String>) -> (Arc<App>, std::path::PathBuf) {
    let app = tenant(dir, database_url, 31);
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, chain::policy_from(app.today())).unwrap();
    let out = dir.join("campaign");
    let req = unico_app::plan::PlanRequest { policy, as_of: None, out: out.clone(), dry_run: false };
    let planned = app.plan_campaign(&req, &unico_app::Silent).unwrap();
    app.publish_campaign(&planned.campaign_id, &Caller::cli()).unwrap();
    app.publish_privacy_policy("2026-11", "We keep your card and purchases to run the programme.", &Caller::cli())
        .unwrap();
    app.pos_refresh().unwrap();
    (app, out)
}

pub fn register(s: &Running, email: &str, card: Option<&str>, consents: serde_json::Value) -> Answer {
    let body = serde_json::json!({
        "email": email, "password": "a long enough password", "card": card,
        "policy_version": "2026-11", "consents": consents,
    });
    s.call("POST", "/api/v1/app/register", None, Some(&body.to_string()))
}

pub fn app_login(s: &Running, email: &str) -> String {
    let body = serde_json::json!({"email": email, "password": "a long enough password"}).to_string();
    let a = s.call("POST", "/api/v1/app/login", None, Some(&body));
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["expires_at"].as_str().unwrap().ends_with('Z'));
    a.body["token"].as_str().unwrap().to_string()
}

/// The link code the outbox holds for a customer (as an admin reads the outbox).
pub fn code_from_outbox(s: &Running, admin: &str) -> String {
    let out = s.call("GET", "/api/v1/outbox", Some(admin), None);
    assert_eq!(out.status, 200, "{}", out.body);
    let text = out.body.to_string();
    let at = text.rfind("Your code is ").expect("a code message in the outbox");
    text[at + 13..at + 19].to_string()
}
