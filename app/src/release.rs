//! Which release this process is: the commit and its time, read at run time from the
//! environment the image sets (the Dockerfile's `ENV OC_GIT_SHA`, `OC_BUILD_TIME`, from
//! the build's `GIT_SHA` and `BUILD_TIME` arguments), `dev` and `unknown` elsewhere.
//! Not compiled in: a new commit with no source change builds the same binary, so the
//! image build relinks nothing (it was a 96 s fat-LTO relink per commit).

use std::sync::LazyLock;

/// The commit (Sentry's release, `--version`): `OC_GIT_SHA`, or `dev`.
pub fn git_sha() -> &'static str {
    static SHA: LazyLock<String> = LazyLock::new(|| identity("OC_GIT_SHA", "dev"));
    &SHA
}

/// The commit's time: `OC_BUILD_TIME`, or `unknown`.
pub fn build_time() -> &'static str {
    static TIME: LazyLock<String> = LazyLock::new(|| identity("OC_BUILD_TIME", "unknown"));
    &TIME
}

/// `0.1.0 (git 0123abcd…, built 2026-11-25T21:00:00Z, allocator mimalloc)`.
pub fn long_version() -> &'static str {
    static LONG: LazyLock<String> = LazyLock::new(|| {
        format!(
            "{} (git {}, built {}, allocator {})",
            env!("CARGO_PKG_VERSION"),
            git_sha(),
            build_time(),
            crate::ALLOCATOR
        )
    });
    &LONG
}

/// `name`'s value if it is a plausible identity (1-64 characters of letters, digits and
/// `-:.+TZ`), else `default`: whatever the environment holds, it never carries a line
/// break or markup into a log line, an event or `--version`.
fn identity(name: &str, default: &str) -> String {
    parse(std::env::var(name).ok().as_deref()).unwrap_or_else(|| default.to_owned())
}

fn parse(value: Option<&str>) -> Option<String> {
    let value = value?.trim();
    let plausible = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | '+'));
    plausible.then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_taken_only_when_plausible() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(parse(Some(sha)).as_deref(), Some(sha));
        assert_eq!(
            parse(Some(" 2026-11-25T21:00:00Z\n")).as_deref(),
            Some("2026-11-25T21:00:00Z")
        );
        assert_eq!(parse(Some("")), None);
        assert_eq!(parse(Some("   ")), None);
        assert_eq!(parse(None), None);
        assert_eq!(parse(Some("abc\nforged line")), None, "no line break");
        assert_eq!(parse(Some("<script>")), None);
        assert_eq!(parse(Some(&"a".repeat(65))), None, "too long");
    }
}
