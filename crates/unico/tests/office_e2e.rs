//! The back office end to end in a real browser: `e2e/office.mjs` drives Debian's headless
//! Chromium (playwright-core with `executablePath`) against `unico serve` on the chain
//! `unico demo` prepares (its goals, published campaign, tickets and a user of each role,
//! whose one-time passwords it prints). `.ci/run` sets UNICO_E2E=1, which makes this test
//! required; elsewhere it runs when Chromium and the e2e packages are there.

use std::ffi::OsStr;
use std::process::Command;

#[path = "common/e2e.rs"]
mod e2e;
use e2e::repo;

#[path = "../../unico-server/tests/common/chain.rs"]
mod chain;

#[test]
fn the_back_office_in_headless_chromium() {
    let Some(chromium) = e2e::chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let demo = Command::new(env!("CARGO_BIN_EXE_unico"))
        .arg("--data")
        .arg(&data)
        .args(["demo", "--no-serve", "--customers", "300", "--days", "400"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&demo.stdout).into_owned();
    assert!(demo.status.success(), "{said}{}", String::from_utf8_lossy(&demo.stderr));
    // The demo's logins: "  ROLE  EMAIL  PASSWORD [(store S)]".
    let mut logins = serde_json::Map::new();
    for line in said.lines().skip_while(|l| !l.starts_with("Back-office logins")).skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 3 || !words[1].contains('@') {
            break;
        }
        let store = words.get(4).map(|s| s.trim_end_matches(')')).unwrap_or("");
        logins.insert(words[0].into(), serde_json::json!([words[1], words[2], store]));
    }
    assert_eq!(logins.len(), 4, "a login per role: {said}");
    let app = unico_app::App::open(&data).unwrap();
    let card = app.cards().unwrap().into_iter().nth(5).unwrap().card;
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, chain::policy_from(app.today())).unwrap();
    drop(app);

    let (mut server, base) = e2e::serve(&data, &tmp.path().join("server.log"), &[]);

    let shots = repo().join("target/e2e/office");
    let _ = std::fs::remove_dir_all(&shots);
    let logins_json = serde_json::Value::Object(logins.clone()).to_string();
    let (passed, said) = e2e::run(
        "office.mjs",
        &[
            ("UNICO_BASE", OsStr::new(&base)),
            ("UNICO_LOGINS", OsStr::new(&logins_json)),
            ("UNICO_POLICY", policy.as_os_str()),
            ("UNICO_CARD", OsStr::new(&card)),
            ("UNICO_E2E_OUT", shots.as_os_str()),
            ("CHROMIUM", OsStr::new(&chromium)),
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert!(passed, "e2e/office.mjs failed:\n{said}");
    // Passwords, session tokens and cards never reach the server's log.
    let log = std::fs::read_to_string(tmp.path().join("server.log")).unwrap();
    assert!(log.lines().filter(|l| l.contains("/office/")).count() > 20, "the requests are logged");
    for l in logins.values() {
        let password = l[1].as_str().unwrap();
        assert!(!log.contains(password), "the server's log holds a password");
    }
    assert!(!log.contains(&card), "the server's log holds a card");
    for page in
        ["01-login", "02-home", "05-policy-error", "07-campaign-preview", "09-customer", "11-tickets", "14-admin"]
    {
        assert!(shots.join(format!("{page}.png")).exists(), "no screenshot of {page}");
    }
}
