//! What the browser tests share: whether Debian's Chromium, node and the e2e packages are
//! there (required when UNICO_E2E=1, as in CI), a `unico serve` on a free port, and a run of
//! one of the `e2e/*.mjs` scripts.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Chromium's path when a browser test can run; `None` (said on stderr) when it cannot and
/// is not required.
pub fn chromium() -> Option<String> {
    let required = std::env::var("UNICO_E2E").is_ok_and(|v| v == "1");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let modules = repo().join("e2e/node_modules/playwright-core");
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !(Path::new(&chromium).exists() && modules.exists() && node) {
        assert!(!required, "UNICO_E2E=1 but Chromium ({chromium}), node or e2e/node_modules is missing");
        eprintln!("skipped: needs Chromium at {chromium}, node, and `npm ci` in e2e/ (.ci/run installs them)");
        return None;
    }
    Some(chromium)
}

/// `unico serve` on a free port of loopback, its log in `log`; the server and its address.
pub fn serve(data: &Path, log: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_unico"))
        .arg("--data")
        .arg(data)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_string();
    (server, base)
}

/// Runs `e2e/<script>` with `env`: whether it passed (exit 0 and "e2e passed"), and what it said.
pub fn run(script: &str, env: &[(&str, &std::ffi::OsStr)]) -> (bool, String) {
    let run = Command::new("node")
        .arg(repo().join("e2e").join(script))
        .current_dir(repo().join("e2e"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    (run.status.success() && said.contains("e2e passed"), said)
}
