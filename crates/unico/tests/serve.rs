//! `unico serve` as an operator runs it: users added from the shell, the first line saying
//! where it listens, a job interrupted by a killed server reported failed after the restart,
//! and a graceful stop on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn unico(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_unico")).arg("--data").arg(data).args(args).output().expect("unico runs")
}

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
    assert!(unico(&data, &["demo", "--customers", "200", "--days", "60"]).status.success());
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
