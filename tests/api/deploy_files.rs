//! What `deploy/` and the release scripts ship: the systemd units pass `systemd-analyze
//! verify` with nothing to say, the environment file is a configuration the binary accepts,
//! and a binary split by `scripts/split-debug` is lean, serves, and keeps its symbols.

use std::path::Path;
use std::process::Command;

use crate::support::binary::{self, RunningServer};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    for unit in ["community-shares.service", "community-shares-worker.service"] {
        let text = std::fs::read_to_string(Path::new(ROOT).join("deploy").join(unit)).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/community-shares "), "{unit}");
        // The installed binary's path, here the one just built.
        let text = text.replace(
            "ExecStart=/usr/local/bin/community-shares ",
            &format!("ExecStart={} ", binary::BINARY),
        );
        let file = dir.path().join(unit);
        std::fs::write(&file, text).unwrap();
        let output = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&file)
            .output()
            .expect("systemd-analyze (Debian's systemd; scripts/test installs it) runs");
        // It exits 0 even for unknown options, which it only reports: nothing may be said.
        assert!(
            output.status.success() && output.stderr.is_empty() && output.stdout.is_empty(),
            "{unit}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// `KEY=value` lines as systemd reads an environment file (comments and blank lines skipped,
/// one level of double quotes removed).
fn environment_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line.split_once('=').expect("KEY=value");
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn the_environment_file_example_is_a_configuration_the_binary_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let settings = environment_file(&Path::new(ROOT).join("deploy/community-shares.env.example"));
    let keys: Vec<&str> = settings.iter().map(|(k, _)| k.as_str()).collect();
    for needed in [
        "CS__DATABASE__URL",
        "CS__AUTH__JWT_SECRET",
        "CS__TRANSPARENCY__SIGNING_KEY",
        "CS__METRICS__BIND",
        "CS__SERVER__TRUSTED_PROXIES",
    ] {
        assert!(keys.contains(&needed), "{needed} is missing");
    }
    // `migrate` with the file's settings, a local database in place of its URL, and its own
    // signing key or `secret`.
    let migrate = |secret: Option<&str>, log_key: Option<&str>| {
        let mut command = binary::command(dir.path());
        command.envs(settings.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command.env(
            "CS__DATABASE__URL",
            format!("sqlite://{}", dir.path().join("env.db").display()),
        );
        if let Some(secret) = secret {
            command.env("CS__AUTH__JWT_SECRET", secret);
        }
        if let Some(key) = log_key {
            command.env("CS__TRANSPARENCY__SIGNING_KEY", key);
        }
        command.arg("migrate");
        binary::run(command, "")
    };
    // Every key is known and every value valid (the binary refuses unknown keys with exit 2);
    // only the placeholders of the secrets are replaced.
    const LOG_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let output = migrate(Some(crate::support::JWT_SECRET), Some(LOG_KEY));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // Each secret's placeholder is refused, as the file says.
    for (output, key) in [
        (migrate(None, Some(LOG_KEY)), "auth.jwt_secret"),
        (
            migrate(Some(crate::support::JWT_SECRET), None),
            "transparency.signing_key",
        ),
    ] {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(key), "{stderr}");
    }
}

fn sections(binary: &Path) -> String {
    let output = Command::new("readelf")
        .arg("--section-headers")
        .arg("--wide")
        .arg(binary)
        .output()
        .expect("readelf runs");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_binary_split_by_scripts_split_debug_is_lean_and_serves() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(Path::new(ROOT).join("scripts/split-debug"))
        .arg(binary::BINARY)
        .arg(out.path())
        .status()
        .expect("split-debug runs");
    assert!(status.success());
    let lean = out.path().join("community-shares");
    let (before, after) = (
        std::fs::metadata(binary::BINARY).unwrap().len(),
        std::fs::metadata(&lean).unwrap().len(),
    );
    assert!(after < before, "{after} is not less than {before}");
    let shipped = sections(&lean);
    assert!(
        !shipped.contains(".debug_line") && !shipped.contains(".debug_info"),
        "{shipped}"
    );
    assert!(
        shipped.contains(".symtab") && shipped.contains(".gnu_debuglink"),
        "{shipped}"
    );
    assert!(sections(&out.path().join("community-shares.debug")).contains(".debug_line"));

    // It serves.
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(&lean);
    command
        .current_dir(dir.path())
        .env("CS_CONFIG_DIR", dir.path().join("no-config"))
        .env("CS__SERVER__BIND", "127.0.0.1:0");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CS_") && k != "CS_CONFIG_DIR") {
        command.env_remove(key);
    }
    let mut server = RunningServer::start(command);
    let health: serde_json::Value = binary::get_json(&format!("{}/health", server.base_url));
    assert_eq!(health, serde_json::json!({"status": "ok"}));
    assert!(server.terminate().success());
}
