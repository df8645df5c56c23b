//! Django's four password validators (`AUTH_PASSWORD_VALIDATORS` of a new project), with
//! their messages: similarity to the user's attributes, minimum length, the common list,
//! all digits. Every failure is reported, in Django's order (as Django's
//! `validate_password` collects them).

use std::collections::HashSet;
use std::sync::OnceLock;

/// Django's `MinimumLengthValidator` default.
pub const MIN_LENGTH: usize = 8;
/// Django's `UserAttributeSimilarityValidator` default.
const MAX_SIMILARITY: f64 = 0.7;
/// Longer passwords are refused outright (hashing a megabyte is a denial of service).
pub const MAX_LENGTH: usize = 4096;

/// The user's attributes a password may not resemble, with the names Django shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserAttributes<'a> {
    pub username: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
}

/// Django's list (`django/contrib/auth/common-passwords.txt.gz`, 20 000 passwords
/// collected by Royce Williams), lower-case.
fn common() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!(concat!(env!("OUT_DIR"), "/common-passwords.txt"))
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// Python's `SequenceMatcher(a, b).quick_ratio()`: twice the characters the two share
/// (as multisets) over their total length.
pub fn quick_ratio(a: &str, b: &str) -> f64 {
    let total = a.chars().count() + b.chars().count();
    if total == 0 {
        return 1.0;
    }
    let mut available: std::collections::HashMap<char, usize> = std::collections::HashMap::new();
    for c in b.chars() {
        *available.entry(c).or_default() += 1;
    }
    let mut matches = 0usize;
    for c in a.chars() {
        if let Some(n) = available.get_mut(&c) {
            if *n > 0 {
                *n -= 1;
                matches += 1;
            }
        }
    }
    2.0 * matches as f64 / total as f64
}

/// Django's `exceeds_maximum_length_ratio`: a value far shorter than the password cannot
/// make it similar.
fn exceeds_maximum_length_ratio(password: &str, value: &str) -> bool {
    let password_length = password.chars().count() as f64;
    let value_length = value.chars().count() as f64;
    password_length >= 10.0 * value_length && value_length < MAX_SIMILARITY / 2.0 * password_length
}

fn too_similar(password: &str, attributes: &UserAttributes<'_>) -> Option<&'static str> {
    let password = password.to_lowercase();
    for (name, value) in [
        ("username", attributes.username),
        ("first name", attributes.first_name),
        ("last name", attributes.last_name),
        ("email address", attributes.email),
    ] {
        if value.is_empty() {
            continue;
        }
        let lower = value.to_lowercase();
        // Python's `re.split(r"\W+", value)`, and the whole value.
        let parts = lower
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .chain(std::iter::once(lower.as_str()));
        for part in parts {
            if exceeds_maximum_length_ratio(&password, part) {
                continue;
            }
            if quick_ratio(&password, part) >= MAX_SIMILARITY {
                return Some(name);
            }
        }
    }
    None
}

/// Django's validators, in its default order; `Err` is the first message.
pub fn validate(password: &str, attributes: &UserAttributes<'_>) -> Result<(), Vec<String>> {
    if password.chars().count() > MAX_LENGTH {
        return Err(vec!["This password is too long.".into()]);
    }
    let mut errors = Vec::new();
    if let Some(name) = too_similar(password, attributes) {
        errors.push(format!("The password is too similar to the {name}."));
    }
    if password.chars().count() < MIN_LENGTH {
        errors.push(format!(
            "This password is too short. It must contain at least {MIN_LENGTH} characters."
        ));
    }
    if common().contains(password.to_lowercase().trim()) {
        errors.push("This password is too common.".into());
    }
    if password.chars().all(|c| c.is_ascii_digit()) {
        errors.push("This password is entirely numeric.".into());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(username: &str) -> UserAttributes<'_> {
        UserAttributes {
            username,
            first_name: "Ada",
            last_name: "Lovelace",
            email: "ada.lovelace@example.com",
        }
    }

    #[test]
    fn quick_ratio_is_pythons() {
        // difflib.SequenceMatcher(a="abcd", b="bcde").quick_ratio() == 0.75
        assert!((quick_ratio("abcd", "bcde") - 0.75).abs() < 1e-9);
        assert!((quick_ratio("aab", "abb") - 2.0 * 2.0 / 6.0).abs() < 1e-9);
        assert!((quick_ratio("", "") - 1.0).abs() < 1e-9);
    }

    #[test]
    fn each_validator_speaks_as_djangos() {
        let bob = user("bobsmith");
        assert_eq!(
            validate("Bobsmith1", &bob).unwrap_err(),
            ["The password is too similar to the username."]
        );
        assert_eq!(
            validate("lovelace!", &bob).unwrap_err(),
            ["The password is too similar to the last name."]
        );
        assert_eq!(
            validate("ada.lovelace@example", &bob).unwrap_err(),
            ["The password is too similar to the email address."]
        );
        assert_eq!(
            validate("x7#kq", &bob).unwrap_err(),
            ["This password is too short. It must contain at least 8 characters."]
        );
        assert_eq!(
            validate("password123", &bob).unwrap_err(),
            ["This password is too common."]
        );
        assert_eq!(
            validate("Sunshine", &bob).unwrap_err(),
            ["This password is too common."]
        );
        assert_eq!(
            validate("80417296153", &bob).unwrap_err(),
            ["This password is entirely numeric."]
        );
        // Every failure, in Django's order.
        assert_eq!(
            validate("1234", &bob).unwrap_err(),
            [
                "This password is too short. It must contain at least 8 characters.",
                "This password is too common.",
                "This password is entirely numeric."
            ]
        );
        assert!(validate(&"a".repeat(MAX_LENGTH + 1), &bob).is_err());
        assert!(validate("correct horse battery staple", &bob).is_ok());
        // A short attribute cannot make a long password "similar".
        assert!(validate("a quite long passphrase indeed", &user("ab")).is_ok());
    }

    #[test]
    fn the_common_list_is_djangos_whole_list() {
        assert!(common().len() > 19_000, "{}", common().len());
        assert!(common().contains("qwerty") && common().contains("123456"));
    }
}
