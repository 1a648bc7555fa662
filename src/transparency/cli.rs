//! The outsider's and the witness's commands: `transparency verify`, `transparency
//! witness-key`, `transparency cosign`. They read the log over HTTPS (or from a file) and never
//! touch the platform's database.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::keys::WitnessKey;
use super::verify::{verify, Export, Failure, Report, Trust};

/// The largest export read (entries are ~400 bytes: about 1.2 million of them).
const MAX_EXPORT_BYTES: u64 = 512 * 1024 * 1024;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .new_agent()
}

/// The export's URL for `from`: an `…/export` URL as it is; a site's root gets the API path.
fn export_url(from: &str) -> String {
    if from.trim_end_matches('/').ends_with("/transparency/export") {
        from.to_owned()
    } else {
        format!("{}/api/v1/transparency/export", from.trim_end_matches('/'))
    }
}

fn is_url(from: &str) -> bool {
    from.starts_with("http://") || from.starts_with("https://")
}

/// Reads an export from a file or a URL.
pub fn read_export(from: &str) -> anyhow::Result<Export> {
    let text = if is_url(from) {
        let url = export_url(from);
        agent()
            .get(&url)
            .call()
            .map_err(|e| anyhow::anyhow!("cannot fetch {url}: {e}"))?
            .body_mut()
            .with_config()
            .limit(MAX_EXPORT_BYTES)
            .read_to_string()
            .map_err(|e| anyhow::anyhow!("cannot read {url}: {e}"))?
    } else {
        std::fs::read_to_string(from).map_err(|e| anyhow::anyhow!("cannot read {from}: {e}"))?
    };
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{from} is not a transparency export: {e}"))
}

/// What the verifier kept from before: a signed checkpoint, or a whole earlier export.
pub fn read_kept(path: &Path, trust: &mut Trust) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    match serde_json::from_str::<Export>(&text) {
        Ok(earlier) => {
            trust.kept_checkpoint = earlier.checkpoints.last().cloned();
            trust.kept_entries = Some(earlier.entries);
        }
        Err(_) => trust.kept_checkpoint = Some(text),
    }
    Ok(())
}

/// The witness keys in `path`: one C2SP vkey a line; blank lines and `#` comments skipped.
pub fn read_witness_file(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// The latest checkpoint of a verified export (the largest tree).
pub fn latest_checkpoint(export: &Export) -> Option<&String> {
    export.checkpoints.iter().max_by_key(|note| {
        note.lines()
            .nth(1)
            .and_then(|size| size.parse::<u64>().ok())
            .unwrap_or(0)
    })
}

/// Prints the verdict; true when the log verified.
pub fn report(result: &Result<Report, Failure>) -> bool {
    match result {
        Ok(report) => {
            println!(
                "verified: {} entries, {} signed checkpoints, {} witness cosignatures; tree size {} root {}",
                report.entries, report.checkpoints, report.cosignatures, report.tree_size, report.root
            );
            for witness in &report.witnessed {
                match witness.latest {
                    Some(size) => println!("witnessed by {}: up to tree size {size}", witness.name),
                    None => println!(
                        "not witnessed by {}: it cosigned no checkpoint of this export",
                        witness.name
                    ),
                }
            }
            if report.unverified_cosignatures > 0 {
                println!(
                    "note: {} cosignatures under witness keys read from the export itself are not counted as witnessed; \
                     pass --witness with a key you got from the witness",
                    report.unverified_cosignatures
                );
            }
            if !report.log_key_pinned {
                println!(
                    "note: checked against the log key in the export itself; pass --log-key to pin the key you trust"
                );
            }
            true
        }
        Err(failure) => {
            match failure.entry {
                Some(entry) => println!("NOT VERIFIED at entry {entry}: {}", failure.message),
                None => println!("NOT VERIFIED: {}", failure.message),
            }
            false
        }
    }
}

/// `transparency verify`: true when the log verified.
pub fn verify_command(from: &str, trust: Trust, save: Option<&PathBuf>) -> anyhow::Result<bool> {
    let export = read_export(from)?;
    let result = verify(&export, &trust);
    let verified = report(&result);
    if let (true, Some(path), Some(latest)) = (verified, save, latest_checkpoint(&export)) {
        std::fs::write(path, latest).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(verified)
}

/// `transparency cosign`: as a funder's witness, verifies the log at `site` against the
/// checkpoint kept in `state` (if any), cosigns its latest checkpoint, sends the cosignature,
/// and keeps that checkpoint in `state`. True when cosigned.
pub fn cosign_command(site: &str, key_file: &Path, state: &Path, log_key: Option<String>) -> anyhow::Result<bool> {
    let key_text =
        std::fs::read_to_string(key_file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", key_file.display()))?;
    let key = WitnessKey::parse(&key_text).map_err(|e| anyhow::anyhow!("{}: {e}", key_file.display()))?;
    let mut trust = Trust {
        log_key,
        ..Trust::default()
    };
    if state.exists() {
        read_kept(state, &mut trust)?;
    }
    let export = read_export(site)?;
    if !report(&verify(&export, &trust)) {
        return Ok(false);
    }
    let latest = latest_checkpoint(&export).ok_or_else(|| anyhow::anyhow!("the log has no checkpoint"))?;
    let text = latest
        .split_once("\n\n")
        .map(|(text, _)| format!("{text}\n"))
        .ok_or_else(|| anyhow::anyhow!("the latest checkpoint is not a signed note"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let cosigned = format!("{latest}{}", key.cosign(&text, now));
    let url = format!("{}/api/v1/transparency/cosignatures", site.trim_end_matches('/'));
    agent()
        .post(&url)
        .send_json(serde_json::json!({ "checkpoint": cosigned }))
        .map_err(|e| anyhow::anyhow!("the platform refused the cosignature ({url}): {e}"))?;
    std::fs::write(state, latest).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", state.display()))?;
    println!("cosigned the checkpoint of size {}", text.lines().nth(1).unwrap_or("?"));
    Ok(true)
}
