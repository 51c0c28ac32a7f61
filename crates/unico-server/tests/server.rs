//! The real server on port 0, called over HTTP as clients call it, on SQLite and on
//! PostgreSQL: the role × route matrix, logins and their limit, jobs, a campaign's life,
//! the store manager's store, audited reads of personal data, and error bodies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use unico_app::staff::{Caller, Role};
use unico_server::Config;
use unico_server::access::{Access, MATRIX};

mod common;
use common::*;

/// A route's path with its parameters filled with values that name nothing.
fn concrete(path: &str) -> String {
    path.replace("{email}", "nobody@example.com")
        .replace("{id}", "999999")
        .replace("{dataset}", "receipts")
        .replace("{purpose}", "marketing")
        .replace("{code}", "NO-SUCH-CODE")
        .replace("{token}", "a.1.2.deadbeef")
        .replace("{file}", "app.js")
}

fn matrix_on(database_url: Option<String>, label: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let a = tenant(&tmp.path().join("a"), database_url.clone(), 5);
    // Tenant b keeps its store in SQLite: tenants are independent, whatever their database.
    let b = tenant(&tmp.path().join("b"), None, 6);
    let (_, till) = a.terminal_add("S001", "T1").unwrap();
    a.publish_privacy_policy("1", "The policy.", &Caller::cli()).unwrap();
    let server = Running::start(vec![("a".into(), a.clone()), ("b".into(), b)], config());
    let tokens: BTreeMap<Role, String> = [
        (Role::Admin, "admin@example.com"),
        (Role::Marketing, "marketing@example.com"),
        (Role::StoreManager, "store@example.com"),
        (Role::Support, "support@example.com"),
    ]
    .into_iter()
    .map(|(r, e)| (r, server.login(e, Some("a"))))
    .collect();
    let gone = server.login("gone@example.com", Some("a"));
    a.disable_user("gone@example.com", &Caller::cli()).unwrap();
    let other = server.login("admin@example.com", Some("b"));
    // Tenant b's secret under tenant a's name: a token is checked in its tenant's store only.
    let forged = format!("a.{}", other.split_once('.').unwrap().1);
    // A shopper of tenant a, with a new digital card.
    let reg = serde_json::json!({"email": "shopper@example.com", "password": "a long enough password", "card": null,
        "policy_version": "1", "consents": {"profiling": true}});
    let registered = server.call("POST", "/api/v1/app/register?tenant=a", None, Some(&reg.to_string()));
    assert_eq!(registered.status, 201, "{}", registered.body);
    let shopper_login =
        serde_json::json!({"email": "shopper@example.com", "password": "a long enough password", "tenant": "a"});
    let shopper = server.call("POST", "/api/v1/app/login", None, Some(&shopper_login.to_string()));
    assert_eq!(shopper.status, 200, "{}", shopper.body);
    let shopper = shopper.body["token"].as_str().unwrap().to_string();

    for (method, path, rule) in MATRIX {
        if *path == "/api/v1/auth/logout" || *path == "/office/logout" {
            continue; // it would end the session the rest of the matrix uses; tested below
        }
        let url = concrete(path);
        let body = Some("{}");
        let anonymous = server.call(method, &url, None, body);
        if *rule == Access::Public {
            assert_ne!(anonymous.status, 401, "{label}: {method} {path} is public");
            continue;
        }
        // A back-office page sends whoever has no session to the login page; 401 is
        // checked the same way below, as "to the login page".
        let page = path.starts_with("/office");
        let refused = |a: &common::Answer| {
            if page {
                a.status == 303 && a.location.as_deref().is_some_and(|l| l.starts_with("/office/login"))
            } else {
                a.status == 401
            }
        };
        assert!(refused(&anonymous), "{label}: {method} {path} anonymously: {} {}", anonymous.status, anonymous.body);
        if !page {
            assert_eq!(anonymous.body["error"]["code"], "auth.unauthorized");
        }
        for (who, token) in [("a disabled user", &gone), ("another tenant's secret", &forged)] {
            let a = server.call(method, &url, Some(token), body);
            assert!(refused(&a), "{label}: {method} {path} as {who}: {} {}", a.status, a.body);
        }
        // A shopper's token opens the app's routes only (deleting the account and logging
        // out are tested after the loop: they end the session).
        if !(*path == "/api/v1/app/me" && *method == "DELETE") && *path != "/api/v1/app/logout" {
            let as_shopper = server.call(method, &url, Some(&shopper), body);
            if *rule == Access::Shopper {
                assert!(
                    as_shopper.status != 401 && as_shopper.status != 403 && as_shopper.status < 500,
                    "{label}: {method} {path} as a shopper: {}",
                    as_shopper.body
                );
            } else {
                assert!(refused(&as_shopper), "{label}: {method} {path} as a shopper: {}", as_shopper.body);
            }
        }
        // A till's token opens the tills' routes only; a user's session none of them.
        let as_till = server.call(method, &url, Some(&till), body);
        if *rule == Access::Till {
            assert!(
                as_till.status != 401 && as_till.status != 403 && as_till.status < 500,
                "{label}: {method} {path} as a till: {}",
                as_till.body
            );
        } else {
            assert!(refused(&as_till), "{label}: {method} {path} as a till: {}", as_till.body);
        }
        for (role, token) in &tokens {
            let a = server.call(method, &url, Some(token), body);
            if *rule == Access::Till || *rule == Access::Shopper {
                assert_eq!(a.status, 401, "{label}: {method} {path} as {role:?}: {}", a.body);
            } else if rule.allows(*role) {
                assert!(
                    !refused(&a) && a.status != 403 && a.status < 500,
                    "{label}: {method} {path} as {role:?}: {} {}",
                    a.status,
                    a.body
                );
            } else {
                assert_eq!(a.status, 403, "{label}: {method} {path} as {role:?}: {}", a.body);
                if page {
                    assert!(
                        a.body.as_str().is_some_and(|b| b.contains("Not allowed")),
                        "{label}: {method} {path}: {}",
                        a.body
                    );
                } else {
                    assert_eq!(a.body["error"]["code"], "auth.forbidden");
                }
            }
        }
    }
    // Another tenant's admin sees their own users, never tenant a's.
    let theirs = server.call("GET", "/api/v1/users", Some(&other), None);
    assert_eq!(theirs.status, 200);
    assert_eq!(theirs.body.as_array().unwrap().len(), 5);
    let before = server.call("GET", "/api/v1/audit?limit=1000", Some(&tokens[&Role::Admin]), None);
    assert!(
        before.body.as_array().unwrap().iter().all(|e| e["actor"] != "admin@example.com" || e["origin"].is_string())
    );
    // An admin cannot lock themself out.
    let me = server.call("POST", "/api/v1/users/admin@example.com/disable", Some(&tokens[&Role::Admin]), None);
    assert_eq!((me.status, me.body["error"]["code"].as_str()), (409, Some("conflict")), "{}", me.body);
    // A shopper's logout ends their session; so does deleting their account.
    assert_eq!(server.call("GET", "/api/v1/app/me", Some(&shopper), None).status, 200);
    assert_eq!(server.call("POST", "/api/v1/app/logout", Some(&shopper), None).status, 204);
    assert_eq!(server.call("GET", "/api/v1/app/me", Some(&shopper), None).status, 401);
    let again = server.call("POST", "/api/v1/app/login", None, Some(&shopper_login.to_string()));
    let again = again.body["token"].as_str().unwrap().to_string();
    assert_eq!(server.call("DELETE", "/api/v1/app/me", Some(&again), None).status, 200);
    assert_eq!(server.call("GET", "/api/v1/app/me", Some(&again), None).status, 401);
    // Logout ends the session.
    let token = &tokens[&Role::Marketing];
    assert_eq!(server.call("POST", "/api/v1/auth/logout", Some(token), None).status, 204);
    assert_eq!(server.call("GET", "/api/v1/me", Some(token), None).status, 401);
}

#[test]
fn every_route_refuses_whom_the_matrix_refuses_on_sqlite_and_postgres() {
    matrix_on(None, "sqlite");
    if let Some(url) = postgres() {
        matrix_on(Some(url), "postgres");
    }
}

#[test]
fn the_docs_show_the_matrix_the_code_enforces() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md")).unwrap();
    let mut rows = Vec::new();
    for line in docs.lines().filter(|l| {
        l.starts_with("| GET") || l.starts_with("| POST") || l.starts_with("| PUT") || l.starts_with("| DELETE")
    }) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        rows.push(cells.iter().map(|c| c.trim_matches('`').to_string()).collect::<Vec<_>>());
    }
    let expected: Vec<Vec<String>> = MATRIX
        .iter()
        .map(|(m, p, a)| {
            let mut row = vec![m.to_string(), p.to_string()];
            row.extend(Role::ALL.iter().map(|r| a.cell(*r).to_string()));
            row
        })
        .collect();
    assert_eq!(rows, expected, "docs/api.md's matrix is the code's");
    // And every route the router serves is in the matrix: the OpenAPI document lists them.
    let doc = serde_json::to_value(unico_server::openapi::document()).unwrap();
    let mut served = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            served.push((method.to_uppercase(), path.clone()));
        }
    }
    served.sort();
    let mut listed: Vec<(String, String)> = MATRIX.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    listed.sort();
    assert_eq!(served, listed, "the OpenAPI document and the matrix list the same routes");
}

#[test]
fn logins_are_limited_and_errors_have_one_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tenant(tmp.path(), None, 7);
    let server = Running::start(vec![("default".into(), a)], Config { logins_per_minute: 5, ..Default::default() });
    let bad = serde_json::json!({"email": "admin@example.com", "password": "wrong password!"}).to_string();
    for _ in 0..5 {
        let a = server.call("POST", "/api/v1/auth/login", None, Some(&bad));
        assert_eq!(a.status, 401, "{}", a.body);
    }
    let limited = server.call("POST", "/api/v1/auth/login", None, Some(&bad));
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.body["error"]["code"], "auth.rate_limited");
    assert!(limited.retry_after.is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    // Even the right password waits: the limit is on the e-mail.
    let right = serde_json::json!({"email": "admin@example.com", "password": PASSWORD}).to_string();
    assert_eq!(server.call("POST", "/api/v1/auth/login", None, Some(&right)).status, 429);
    // Another user is not held back by someone else's attempts.
    let token = server.login("support@example.com", None);

    let malformed = server.call("POST", "/api/v1/customers/lookup", Some(&token), Some("{\"reference\": "));
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["error"]["code"], "input.invalid");
    let missing = server.call("POST", "/api/v1/customers/lookup", Some(&token), Some("{}"));
    assert_eq!((missing.status, missing.body["error"]["field"].as_str()), (400, Some("reference")));
    let unknown = server.call("POST", "/api/v1/customers/lookup", Some(&token), Some(r#"{"reference": "0000"}"#));
    assert_eq!((unknown.status, unknown.body["error"]["code"].as_str()), (404, Some("customer.not_found")));
    let nowhere = server.call("GET", "/api/v1/nowhere", Some(&token), None);
    assert_eq!((nowhere.status, nowhere.body["error"]["code"].as_str()), (404, Some("not_found")));
    // Metrics count requests per route template and status.
    let metrics = server.call("GET", "/metrics", None, None);
    let text = metrics.body.as_str().unwrap().to_string();
    assert!(
        text.contains("http_requests_total{method=\"POST\",route=\"/api/v1/auth/login\",status=\"429\"}"),
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"), "{text}");
    let bad_id = server.call("GET", "/api/v1/customers/abc", Some(&token), None);
    assert_eq!(bad_id.status, 400, "{}", bad_id.body);
    assert_eq!(bad_id.body["error"]["code"], "input.invalid");
}

#[test]
fn an_import_runs_as_a_job_and_a_campaign_lives_planned_published_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tenant(tmp.path(), None, 8);
    let server = Running::start(vec![("default".into(), app.clone())], config());
    let token = server.login("marketing@example.com", None);

    // An upload of receipts, as a job with progress, to done.
    let receipts = std::fs::read_to_string(tmp.path().join("chain/receipts.csv")).unwrap();
    let accepted = server.upload("/api/v1/imports/receipts", &token, "more receipts.csv", &receipts);
    let job = server.wait_job(&token, &accepted);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["kind"], "import");
    assert_eq!(job["step"], "publishing", "the job's last step is recorded: {job}");
    assert!(job["started_at"].is_string() && job["finished_at"].is_string());
    assert!(job["result"]["summaries"][0]["rows_read"].as_u64().unwrap() > 1000, "{job}");
    assert_eq!(
        job["result"]["summaries"][0]["rows_already_in_lake"].as_u64(),
        job["result"]["summaries"][0]["rows_read"].as_u64(),
        "the same receipts again: all already in the lake"
    );
    assert!(!app.root().join("uploads").read_dir().unwrap().any(|_| true), "the upload is removed after its import");

    // The promotion history goes through the same route, by its dataset's name.
    let campaigns = "campaign_id,name,kind,start,end\nC1,Spring,targeted,2025-03-01,2025-03-14\nC2,Bad,mass,2025-05-10,2025-05-01\n";
    let accepted = server.upload("/api/v1/imports/campaigns", &token, "campaigns.csv", campaigns);
    let job = server.wait_job(&token, &accepted);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"]["summaries"][0]["dataset"], "campaigns", "{job}");
    assert_eq!(job["result"]["summaries"][0]["rows_imported"], 1, "{job}");
    assert_eq!(job["result"]["summaries"][0]["rejected"]["out_of_range"], 1, "{job}");
    let unknown = server.upload("/api/v1/imports/promotions", &token, "x.csv", campaigns);
    assert_eq!(
        (unknown.status, unknown.body["error"]["code"].as_str()),
        (400, Some("input.invalid")),
        "{}",
        unknown.body
    );

    // Recommendations, as a job writing a CSV to download.
    let job =
        server.wait_job(&token, &server.call("POST", "/api/v1/recommendations", Some(&token), Some(r#"{"k": 3}"#)));
    assert_eq!(job["state"], "done", "{job}");
    let name = job["result"]["export"].as_str().unwrap().to_string();
    let listed = server.call("GET", "/api/v1/exports", Some(&token), None);
    assert_eq!(listed.body[0]["name"].as_str(), Some(name.as_str()), "{}", listed.body);
    let mut r = server
        .agent
        .get(&format!("{}/api/v1/exports/{name}", server.base))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(r.headers().get("content-type").unwrap(), "text/csv");
    let csv_text = r.body_mut().read_to_string().unwrap();
    assert!(csv_text.starts_with("customer_id,rank,sku,score,reason"), "{}", &csv_text[..80.min(csv_text.len())]);
    assert!(csv_text.lines().count() > 100);
    let outside = server.call("GET", "/api/v1/exports/..%2Funico.toml", Some(&token), None);
    assert_eq!(outside.status, 404, "nothing outside exports/: {}", outside.body);

    // A policy with a problem: 422 with its line.
    let bad = server.call("POST", "/api/v1/policies/validate", Some(&token), Some("[campaign]\nname = 1\n"));
    assert_eq!((bad.status, bad.body["error"]["code"].as_str()), (422, Some("policy.invalid")), "{}", bad.body);
    assert!(bad.body["error"]["message"].as_str().unwrap().contains("line "), "{}", bad.body);

    // Plan through the API: stored as planned, reaching no one.
    let policy =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/policy.toml")).unwrap();
    let ok = server.call("POST", "/api/v1/policies/validate", Some(&token), Some(&policy));
    assert_eq!(ok.status, 200, "{}", ok.body);
    let plan = serde_json::json!({"policy": policy}).to_string();
    let job = server.wait_job(&token, &server.call("POST", "/api/v1/campaigns/plan", Some(&token), Some(&plan)));
    assert_eq!(job["state"], "done", "{job}");
    let id = job["result"]["campaign_id"].as_str().unwrap().to_string();
    // The policy it was planned with is kept as a version.
    let version = job["request"]["policy_version"].as_str().unwrap().to_string();
    let versions = server.call("GET", "/api/v1/policies", Some(&token), None);
    assert_eq!(versions.body[0]["id"].as_str(), Some(version.as_str()), "{}", versions.body);
    let kept = server.call("GET", &format!("/api/v1/policies/{version}"), Some(&token), None);
    assert_eq!(kept.body["text"].as_str(), Some(policy.as_str()));
    let outside = server.call("GET", "/api/v1/policies/..%2Funico", Some(&token), None);
    assert_eq!(outside.status, 404, "an id names a kept version and nothing else: {}", outside.body);
    let list = server.call("GET", "/api/v1/campaigns", Some(&token), None);
    assert_eq!(list.body[0]["status"], "planned", "{}", list.body);
    // Someone with offers in the campaign: none shown while planned.
    let offers = std::fs::read_dir(app.root().join("campaigns")).unwrap().next().unwrap().unwrap().path();
    let mut r = csv::Reader::from_path(offers.join("offers.csv")).unwrap();
    let card = r.records().next().unwrap().unwrap()[1].to_string();
    let cid = server.lookup(&token, &card);
    let valid_from = job["result"]["valid_from"].as_str().unwrap().to_string();
    let _ = valid_from;
    let profile = |who: &str| server.call("GET", &format!("/api/v1/customers/{cid}/profile"), Some(who), None);
    assert_eq!(profile(&token).status, 200);

    let path = format!("/api/v1/campaigns/{}/publish", utf8_percent(&id));
    let published = server.call("POST", &path, Some(&token), None);
    assert_eq!((published.status, published.body["status"].as_str()), (200, Some("published")), "{}", published.body);
    // Its redemptions, uploaded: the response is learned, as a job.
    let codes: Vec<String> = csv::Reader::from_path(offers.join("offers.csv"))
        .unwrap()
        .records()
        .take(20)
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    let redeemed = format!("code\n{}\n", codes.join("\n"));
    let path_learn = format!("/api/v1/campaigns/{}/learn", utf8_percent(&id));
    let accepted = server.upload(&path_learn, &token, "redeemed.csv", &redeemed);
    let learned = server.wait_job(&token, &accepted);
    assert_eq!(learned["state"], "done", "{learned}");
    assert_eq!(learned["result"]["campaign_id"].as_str(), Some(id.as_str()), "{learned}");
    let stopped = server.call("POST", &format!("/api/v1/campaigns/{}/stop", utf8_percent(&id)), Some(&token), None);
    assert_eq!(stopped.body["status"], "stopped");
    let again = server.call("POST", &path, Some(&token), None);
    assert_eq!((again.status, again.body["error"]["code"].as_str()), (409, Some("conflict")));
    // Who published, in the audit log.
    let admin = server.login("admin@example.com", None);
    let log = server.call("GET", "/api/v1/audit?limit=50", Some(&admin), None);
    let actions: Vec<(&str, &str)> = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap_or("")))
        .collect();
    assert!(actions.contains(&("publish_campaign", "marketing@example.com")), "{actions:?}");
    assert!(actions.contains(&("stop_campaign", "marketing@example.com")));
    assert!(actions.contains(&("import", "marketing@example.com")));
}

/// A path segment with spaces and other characters percent-encoded.
fn utf8_percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn support_reads_personal_data_audited_and_a_store_manager_sees_only_their_store() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tenant(tmp.path(), None, 9);
    let server = Running::start(vec![("default".into(), app.clone())], config());
    let support = server.login("support@example.com", None);
    let card = app.cards().unwrap()[0].card.clone();
    let id = server.lookup(&support, &card);
    let view = server.call("GET", &format!("/api/v1/customers/{id}"), Some(&support), None);
    assert_eq!(view.status, 200, "{}", view.body);
    assert!(view.body.to_string().contains(&card));
    let log = app.audit_log(10, None).unwrap();
    let read = log.iter().find(|e| e.action == "read_customer").expect("the read is audited");
    assert_eq!(
        (read.actor.as_deref(), read.customer_id, read.origin.as_deref()),
        (Some("support@example.com"), Some(id), Some("127.0.0.1"))
    );
    assert!(!read.details.contains(&card), "the audit log holds no personal data");
    // Marketing sees the profile, not the person.
    let marketing = server.login("marketing@example.com", None);
    assert_eq!(server.call("GET", &format!("/api/v1/customers/{id}"), Some(&marketing), None).status, 403);
    let profile = server.call("GET", &format!("/api/v1/customers/{id}/profile"), Some(&marketing), None);
    assert_eq!(profile.status, 200);
    assert!(!profile.body.to_string().contains(&card), "no card number in a profile");

    let manager = server.login("store@example.com", None);
    let kpis = server.call("GET", "/api/v1/kpis?by=month", Some(&manager), None);
    assert_eq!(kpis.status, 200, "{}", kpis.body);
    let rows = kpis.body["rows"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r["store"] == "S001"), "{}", kpis.body);
    let other = server.call("GET", "/api/v1/kpis?store=S002", Some(&manager), None);
    assert_eq!(other.status, 403);
}

/// A receiver of webhooks: answers 500 to the first request, 200 after; keeps what it got.
/// Requests a receiver got: headers (lower-case names) and body.
type Received = Arc<std::sync::Mutex<Vec<(BTreeMap<String, String>, String)>>>;

fn receiver() -> (String, Received) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = BTreeMap::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                let (k, v) = l.split_once(':').unwrap();
                headers.insert(k.trim().to_lowercase(), v.trim().to_string());
            }
            let len: usize = headers.get("content-length").map_or(0, |v| v.parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            seen.lock().unwrap().push((headers, String::from_utf8(body).unwrap()));
            let status = if n == 0 { "500 Internal Server Error" } else { "200 OK" };
            let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, got)
}

#[test]
fn webhooks_are_signed_retried_after_a_failure_and_dead_lettered_then_resent() {
    use hmac::Mac;
    let tmp = tempfile::tempdir().unwrap();
    let app = tenant(tmp.path(), None, 10);
    let config = Config {
        logins_per_minute: 1000,
        webhook_poll: Duration::from_millis(50),
        webhook_backoff: Duration::from_millis(100),
        webhook_max_attempts: 3,
        ..Default::default()
    };
    let server = Running::start(vec![("default".into(), app.clone())], config);
    let admin = server.login("admin@example.com", None);
    let (url, got) = receiver();
    let add = |url: &str, events: &[&str]| {
        let body = serde_json::json!({"url": url, "events": events}).to_string();
        let a = server.call("POST", "/api/v1/webhooks", Some(&admin), Some(&body));
        assert_eq!(a.status, 201, "{}", a.body);
        a.body
    };
    let hook = add(&url, &["consent.changed", "customer.erased"]);
    let secret = hook["secret"].as_str().unwrap().to_string();
    // The store keeps the secret wrapped by the master key, never in clear.
    for f in std::fs::read_dir(app.root()).unwrap().map(|e| e.unwrap().path()) {
        if f.file_name().unwrap().to_string_lossy().starts_with("unico.db") {
            let bytes = std::fs::read(&f).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{} holds the secret", f.display());
        }
    }
    let listed = server.call("GET", "/api/v1/webhooks", Some(&admin), None);
    assert!(!listed.body.to_string().contains(&secret), "the secret is shown once");
    // A receiver that is never there: dead after three attempts.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    add(&format!("http://{closed}/gone"), &["consent.changed"]);
    let bad = server.call(
        "POST",
        "/api/v1/webhooks",
        Some(&admin),
        Some(r#"{"url": "ftp://x", "events": ["consent.changed"]}"#),
    );
    assert_eq!(bad.status, 400);
    let bad =
        server.call("POST", "/api/v1/webhooks", Some(&admin), Some(r#"{"url": "http://x", "events": ["everything"]}"#));
    assert_eq!(bad.status, 400, "{}", bad.body);

    // A consent withdrawn through the API is announced.
    let support = server.login("support@example.com", None);
    let card = app.cards().unwrap()[0].card.clone();
    let id = server.lookup(&support, &card);
    let changed = server.call(
        "PUT",
        &format!("/api/v1/customers/{id}/consents/marketing"),
        Some(&support),
        Some(r#"{"granted": false}"#),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);

    let wait = |what: &str, done: &dyn Fn() -> bool| {
        for _ in 0..200 {
            if done() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what} did not happen");
    };
    wait("two requests to the receiver", &|| got.lock().unwrap().len() >= 2);
    let deliveries = || server.call("GET", "/api/v1/webhooks/deliveries", Some(&admin), None).body;
    wait("a delivery and a dead letter", &|| {
        let d = deliveries();
        let states: Vec<&str> = d.as_array().unwrap().iter().map(|x| x["state"].as_str().unwrap()).collect();
        states.contains(&"delivered") && states.contains(&"dead")
    });
    let requests = got.lock().unwrap().clone();
    assert_eq!(requests[0].1, requests[1].1, "the retry sends the same message");
    let (headers, body) = &requests[1];
    assert_eq!(headers["x-unico-event"], "consent.changed");
    let event: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!((event["data"]["customer_id"].as_i64(), event["data"]["granted"].as_bool()), (Some(id), Some(false)));
    assert!(!body.contains(&card), "no card number in an event");
    // The signature verifies with the secret over "<t>.<body>".
    let sig = &headers["x-unico-signature"];
    let (t, v1) = sig.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    assert_eq!(v1.strip_prefix("v1=").unwrap(), hex::encode(mac.finalize().into_bytes()), "the signature verifies");
    let mut wrong = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"not the secret").unwrap();
    wrong.update(format!("{t}.{body}").as_bytes());
    assert_ne!(v1.strip_prefix("v1=").unwrap(), hex::encode(wrong.finalize().into_bytes()));

    // The dead letter: three attempts, its error kept, and sent again on request.
    let d = deliveries();
    let dead = d.as_array().unwrap().iter().find(|x| x["state"] == "dead").unwrap().clone();
    assert_eq!(dead["attempts"], 3, "{dead}");
    assert!(dead["last_error"].as_str().unwrap().contains("cannot reach"), "{dead}");
    let resent = server.call("POST", &format!("/api/v1/webhooks/deliveries/{}/resend", dead["id"]), Some(&admin), None);
    assert_eq!((resent.status, resent.body["state"].as_str()), (200, Some("pending")), "{}", resent.body);
    let delivered = d.as_array().unwrap().iter().find(|x| x["state"] == "delivered").unwrap();
    assert_eq!(delivered["attempts"], 2, "one failure, then delivered");
    let again =
        server.call("POST", &format!("/api/v1/webhooks/deliveries/{}/resend", delivered["id"]), Some(&admin), None);
    assert_eq!(again.status, 404, "a delivered message is not sent again");
}

#[test]
fn a_body_over_the_limit_is_refused_with_413() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tenant(tmp.path(), None, 11);
    let server = Running::start(vec![("default".into(), app)], Config { max_body_bytes: 1024, ..config() });
    let token = server.login("marketing@example.com", None);
    let big = "x".repeat(4096);
    let a = server.call("POST", "/api/v1/policies/validate", Some(&token), Some(&big));
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (413, Some("request.too_large")), "{}", a.body);
}

#[test]
fn a_browser_session_needs_the_csrf_header_to_change_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tenant(tmp.path(), None, 12);
    let server = Running::start(vec![("default".into(), app)], config());
    let body = serde_json::json!({"email": "admin@example.com", "password": PASSWORD}).to_string();
    let mut r = server
        .agent
        .post(&format!("{}/api/v1/auth/login", server.base))
        .header("Content-Type", "application/json")
        .send(body.as_str())
        .unwrap();
    let cookies: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let _ = r.body_mut().read_to_string();
    let session = cookies.iter().find(|c| c.starts_with("unico_session=")).expect("a session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    let csrf = cookies.iter().find(|c| c.starts_with("unico_csrf=")).expect("a CSRF cookie");
    assert!(!csrf.contains("HttpOnly"), "the page reads it to copy it into the header");
    let value = |c: &str| c.split(';').next().unwrap().to_string();
    let cookie = format!("{}; {}", value(session), value(csrf));
    let csrf_value = value(csrf).split_once('=').unwrap().1.to_string();
    let send = |method: &str, path: &str, header: Option<&str>| {
        let url = format!("{}{path}", server.base);
        let r = if method == "GET" {
            server.agent.get(&url).header("Cookie", &cookie).call()
        } else {
            let mut req = server.agent.post(&url).header("Cookie", &cookie).header("Content-Type", "application/json");
            if let Some(h) = header {
                req = req.header("X-CSRF-Token", h);
            }
            req.send(r#"{"url": "https://example.com/hook", "events": ["customer.erased"]}"#)
        };
        r.unwrap().status().as_u16()
    };
    assert_eq!(send("GET", "/api/v1/me", None), 200, "reading with the cookie alone");
    assert_eq!(send("POST", "/api/v1/webhooks", None), 403, "a change without the header");
    assert_eq!(send("POST", "/api/v1/webhooks", Some("forged")), 403, "a change with another value");
    assert_eq!(send("POST", "/api/v1/webhooks", Some(&csrf_value)), 201, "a change with the header");
}

#[test]
fn a_tenants_file_names_each_retailer_once() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("tenants.toml");
    std::fs::write(&file, "[[tenant]]\nname = \"rossi\"\ndata = \"rossi-data\"\n[[tenant]]\nname = \"bianchi\"\ndata = \"/srv/bianchi\"\n")
        .unwrap();
    let t = unico_server::read_tenants(&file).unwrap();
    assert_eq!(t["rossi"], tmp.path().join("rossi-data"), "relative to the file");
    assert_eq!(t["bianchi"], std::path::PathBuf::from("/srv/bianchi"));
    for bad in [
        "[[tenant]]\nname = \"a\"\ndata = \"x\"\n[[tenant]]\nname = \"a\"\ndata = \"y\"\n",
        "[[tenant]]\nname = \"a b\"\ndata = \"x\"\n",
        "[[tenant]]\nname = \"a\"\n",
        "tenant = []\n",
        "[[tenant]]\nname = \"a\"\ndata = \"x\"\nextra = 1\n",
    ] {
        std::fs::write(&file, bad).unwrap();
        let e = unico_server::read_tenants(&file).unwrap_err();
        assert_eq!(e.code(), unico_app::Code::InputInvalid, "{bad}: {e}");
    }
}
