//! `cargo xtask docs`: builds the user guide (mdBook, `docs/`) into `target/book` and
//! checks its internal links: every relative link names a page of the book, and every
//! `#anchor` a heading of that page.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};

use crate::runner::{workspace_root, Runner};

pub fn run(runner: &Runner) -> Result<()> {
    let src = workspace_root().join("docs/src");
    let broken = broken_links(&src)?;
    if !broken.is_empty() {
        bail!("docs: {} broken internal link(s): {}", broken.len(), broken.join("; "));
    }
    println!("docs: every internal link of docs/src resolves");
    if !runner.dry_run
        && runner
            .capture("mdbook", runner.command("mdbook").arg("--version"))
            .is_err()
    {
        bail!("docs: mdbook is not installed (cargo install mdbook --locked)");
    }
    let out = workspace_root().join("target/book");
    let mut build = runner.command("mdbook");
    build.arg("build").arg("docs").arg("--dest-dir").arg(&out);
    runner.run("mdbook build", &mut build)?;
    if !runner.dry_run {
        println!("the user guide: {}", out.join("index.html").display());
    }
    Ok(())
}

/// The anchor mdBook gives a heading: lower case, spaces to `-`, other punctuation dropped.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() => Some(c.to_lowercase().next().unwrap_or(c)),
            ' ' | '-' => Some('-'),
            '_' => Some('_'),
            _ => None,
        })
        .collect()
}

/// `(target)` of every `[text](target)` in a Markdown text, outside code.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Drop inline code spans.
        let plain: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    found
}

/// Every heading anchor of a Markdown text.
fn anchors(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            found.push(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// The broken internal links of the Markdown pages in `src`, as `page: link (why)`.
pub fn broken_links(src: &Path) -> Result<Vec<String>> {
    let mut pages = BTreeMap::new();
    for entry in std::fs::read_dir(src)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "md") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            pages.insert(name, std::fs::read_to_string(&path)?);
        }
    }
    if !pages.contains_key("SUMMARY.md") {
        bail!("docs: no SUMMARY.md in {}", src.display());
    }
    let mut broken = Vec::new();
    for (page, text) in &pages {
        for link in links(text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = link
                .split_once('#')
                .map_or((link.as_str(), None), |(f, a)| (f, Some(a)));
            let target = if file.is_empty() { page.as_str() } else { file };
            // A file beside the pages (the dashboard's JSON): mdBook copies it as it is.
            if !target.ends_with(".md") {
                if !src.join(target).is_file() {
                    broken.push(format!("{page}: {link} (no file {target} beside the pages)"));
                }
                continue;
            }
            let Some(target_text) = pages.get(target) else {
                broken.push(format!("{page}: {link} (no page {target} in the book)"));
                continue;
            };
            if let Some(fragment) = fragment {
                if !anchors(target_text).iter().any(|a| a == fragment) {
                    broken.push(format!("{page}: {link} (no heading #{fragment} in {target})"));
                }
            }
        }
    }
    Ok(broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_made_as_mdbook_makes_them() {
        assert_eq!(anchor(" The path, step by step"), "the-path-step-by-step");
        assert_eq!(anchor("Facts the release respects"), "facts-the-release-respects");
        assert_eq!(anchor("`MIGRATE_ON_START` off"), "migrate_on_start-off");
    }

    #[test]
    fn broken_pages_and_anchors_are_found_and_good_ones_pass() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("SUMMARY.md"), "- [A](a.md)\n- [Gone](gone.md)\n").unwrap();
        std::fs::write(
            dir.path().join("a.md"),
            "# A\n## Step two\nsee [two](#step-two), [b](b.md#top), [bad](#nope), [web](https://x.org/y)\n\
             [data](data/d.json), [no data](data/none.json)\n\
             ```\n[not a link](in-code.md)\n```\n`[code](span.md)`\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b.md"), "# Top\n").unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/d.json"), "{}").unwrap();
        let broken = broken_links(dir.path()).unwrap();
        assert_eq!(
            broken,
            vec![
                "SUMMARY.md: gone.md (no page gone.md in the book)".to_owned(),
                "a.md: #nope (no heading #nope in a.md)".to_owned(),
                "a.md: data/none.json (no file data/none.json beside the pages)".to_owned(),
            ]
        );
    }

    #[test]
    fn the_user_guide_has_no_broken_link() {
        let broken = broken_links(&workspace_root().join("docs/src")).unwrap();
        assert!(broken.is_empty(), "{broken:?}");
    }
}
