//! `unico serve` as an operator runs it: users added from the shell, the first line saying
//! where it listens, a job interrupted by a killed server reported failed after the restart,
//! and a graceful stop on SIGTERM.

mod common;
use common::unico;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts the server on a free port; returns it with its address.
fn serve(data: &Path, env: &[(&str, &str)], args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unico"))
        .arg("--data")
        .arg(data)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{line:?}")).to_string();
    (child, addr)
}

/// One HTTP/1.1 request with `Connection: close`; the status and body.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

#[test]
fn a_job_cut_by_a_killed_server_is_failed_at_restart_and_sigterm_stops_gracefully() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    assert!(unico(&data, &["demo", "--no-serve", "--customers", "200", "--days", "60"]).status.success());
    let added = unico(&data, &["users", "add", "ana@example.com", "--role", "marketing"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let stdout = String::from_utf8(added.stdout).unwrap();
    let password = stdout.lines().last().unwrap().to_string();
    assert!(password.len() >= 12, "the last line is the one-time password: {stdout}");
    let listed = String::from_utf8(unico(&data, &["users", "list", "--format", "json"]).stdout).unwrap();
    assert!(listed.contains("ana@example.com") && !listed.contains(&password), "{listed}");

    // A job that will still be running when the server is killed.
    let (mut server, addr) = serve(&data, &[("UNICO_TEST_JOB_PAUSE_MS", "60000")], &[]);
    let login = serde_json::json!({"email": "ana@example.com", "password": password}).to_string();
    let (status, answer) = http(&addr, "POST", "/api/v1/auth/login", None, &login);
    assert_eq!(status, 200, "{answer}");
    let token = answer["token"].as_str().unwrap().to_string();
    let (status, accepted) = http(&addr, "POST", "/api/v1/model/build", Some(&token), "{}");
    assert_eq!(status, 202, "{accepted}");
    let url = accepted["status_url"].as_str().unwrap().to_string();
    let (_, job) = http(&addr, "GET", &url, Some(&token), "");
    assert!(matches!(job["state"].as_str(), Some("queued" | "running")), "{job}");
    server.kill().unwrap();
    server.wait().unwrap();

    let (mut server, addr) = serve(&data, &[], &[]);
    let (status, job) = http(&addr, "GET", &url, Some(&token), "");
    assert_eq!(status, 200, "the session survives the restart: {job}");
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "job.interrupted", "{job}");
    // The model is still the demo's whole build.
    let (status, model) = http(&addr, "GET", "/api/v1/model", Some(&token), "");
    assert_eq!(status, 200, "{model}");

    stop(&mut server);

    // SIGTERM while a job runs: the job gets its grace, then the server exits anyway, and
    // the next start reports the job interrupted.
    let (mut server, addr) = serve(&data, &[("UNICO_TEST_JOB_PAUSE_MS", "600000")], &["--stop-grace-secs", "1"]);
    let (status, accepted) = http(&addr, "POST", "/api/v1/model/build", Some(&token), "{}");
    assert_eq!(status, 202, "{accepted}");
    let url = accepted["status_url"].as_str().unwrap().to_string();
    stop(&mut server);
    let (mut server, addr) = serve(&data, &[], &[]);
    let (_, job) = http(&addr, "GET", &url, Some(&token), "");
    assert_eq!(job["error"]["code"], "job.interrupted", "{job}");
    stop(&mut server);
}

/// SIGTERM, then the server must exit by itself, successfully, within a few seconds.
fn stop(server: &mut Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = server.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed().as_secs() < 10, "the server did not stop on SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

/// Sends `body` to `path` with a till's token; None when the server is gone.
fn till_call(addr: &str, path: &str, token: &str, body: &str) -> Option<(u16, serde_json::Value)> {
    let mut s = TcpStream::connect(addr).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Some((status, serde_json::from_str(body).ok()?))
}

#[test]
fn a_confirm_answered_survives_kill_9_of_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    assert!(unico(&data, &["demo", "--no-serve", "--customers", "200", "--days", "60"]).status.success());
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/policy.toml");
    let campaign = tmp.path().join("campaign");
    let planned = unico(&data, &["plan", "--policy", policy, "--out", campaign.to_str().unwrap()]);
    assert!(planned.status.success(), "{}", String::from_utf8_lossy(&planned.stderr));
    let listed: serde_json::Value =
        serde_json::from_slice(&unico(&data, &["campaigns", "list", "--format", "json"]).stdout).unwrap();
    let id = listed[0]["id"].as_str().unwrap().to_string();
    assert!(unico(&data, &["campaigns", "publish", &id]).status.success());
    let added = unico(&data, &["terminals", "add", "--store", "S001", "--till", "T1"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let token = String::from_utf8(added.stdout).unwrap().lines().last().unwrap().to_string();
    let listed = String::from_utf8(unico(&data, &["terminals", "list"]).stdout).unwrap();
    assert!(listed.contains("S001") && !listed.contains(&token), "the token is shown once: {listed}");
    // Cardholders with an offer on a product, and that product.
    let mut r = csv::Reader::from_path(campaign.join("offers.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let shoppers: Vec<(String, String)> = r
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[col("target")] == "product")
        .map(|r| (r[col("customer_id")].to_string(), r[col("sku")].to_string()))
        .collect();
    assert!(shoppers.len() > 20);

    let (mut server, addr) = serve(&data, &[], &[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tills: Vec<_> = (0..4)
        .map(|t| {
            let (addr, token, shoppers, stop) = (addr.clone(), token.clone(), shoppers.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut answered = Vec::new();
                for n in 0.. {
                    let (card, sku) = &shoppers[(t * 7 + n) % shoppers.len()];
                    let body = serde_json::json!({
                        "card": card, "store_id": "S001", "till_id": format!("T{t}"), "receipt_no": format!("{t}-{n}"),
                        "at": "2026-01-07T10:15:00+01:00",
                        "lines": [{"line_no": 1, "sku": sku, "quantity": "1", "unit_price_cents": 100_000}],
                    })
                    .to_string();
                    match till_call(&addr, "/api/v1/pos/confirm", &token, &body) {
                        Some((200, answer)) => answered.push((body, answer)),
                        Some((status, answer)) => panic!("{status}: {answer}"),
                        None if stop.load(std::sync::atomic::Ordering::SeqCst) => break,
                        None => panic!("the server went away before it was killed"),
                    }
                }
                answered
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    server.kill().unwrap(); // SIGKILL: no shutdown, no flush
    server.wait().unwrap();
    let answered: Vec<_> = tills.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(answered.len() > 20, "a confirm load ran: {}", answered.len());
    assert!(answered.iter().any(|(_, a)| a["discount_cents"].as_i64().unwrap() > 0), "some receipts redeemed offers");

    // After the restart every answered confirm is there: the retry replays it.
    let (mut server, addr) = serve(&data, &[], &[]);
    for (body, first) in &answered {
        let (status, again) = till_call(&addr, "/api/v1/pos/confirm", &token, body).unwrap();
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["replayed"], true, "an answered confirm was lost: {body}");
        assert_eq!(again["redemption_id"], first["redemption_id"]);
        assert_eq!(again["discounts"], first["discounts"]);
    }
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    server.wait().unwrap();
}
