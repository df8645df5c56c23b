//! The supply chain: cargo-deny's policy (`deny.toml`) against this workspace's graph.
#![allow(clippy::unwrap_used)]

use crate::common;

/// The supply-chain policy (`deny.toml`) passes on this workspace, and it is the policy that
/// makes it pass: without its `skip` of http 0.2, the duplicate http is refused; a crate
/// it bans (OpenSSL's Rust bindings, libpq) is refused too.
#[test]
fn the_supply_chain_policy_passes_and_catches_what_it_bans() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let deny = |config: &std::path::Path, checks: &[&str]| {
        std::process::Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["deny", "--all-features", "--config"])
            .arg(config)
            .arg("check")
            .args(checks)
            .output()
            .unwrap()
    };
    let installed = std::process::Command::new(env!("CARGO"))
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        common::skip(
            "supply chain policy test",
            "cargo-deny is not installed: cargo install cargo-deny --locked",
        );
        return;
    }
    let ours = root.join("deny.toml");
    let output = deny(&ours, &["licenses", "bans", "sources"]);
    assert!(output.status.success(), "{}", common::stderr(&output));

    let text = std::fs::read_to_string(&ours).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let loose = dir.path().join("deny.toml");
    let without_http_skip: String = text
        .lines()
        .filter(|l| !l.contains("name = \"http\""))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&loose, without_http_skip).unwrap();
    let output = deny(&loose, &["bans"]);
    assert!(!output.status.success());
    assert!(
        common::stderr(&output).contains("duplicate entries for crate 'http'"),
        "{}",
        common::stderr(&output)
    );

    // reqwest (everywhere) refused, as openssl is: the ban list is enforced.
    std::fs::write(
        &loose,
        text.replace(
            "deny = [\n",
            "deny = [\n    { name = \"reqwest\", reason = \"test\" },\n",
        ),
    )
    .unwrap();
    let output = deny(&loose, &["bans"]);
    assert!(!output.status.success());
    assert!(
        common::stderr(&output).contains("reqwest"),
        "{}",
        common::stderr(&output)
    );
}
