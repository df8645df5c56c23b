//! Row ids as they arrive in URLs: parsed once, strictly (the public pages and the admin
//! agree on what an id is, and every other spelling is a 404).

/// A positive `i32` written as plain digits (no sign, no spaces, at most 10 digits);
/// `None` for anything else, including ids past `i32::MAX`.
pub fn parse_id(raw: &str) -> Option<i32> {
    if raw.is_empty() || raw.len() > 10 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i32>().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_positive_digits() {
        assert_eq!(parse_id("1"), Some(1));
        assert_eq!(parse_id("007"), Some(7));
        assert_eq!(parse_id("2147483647"), Some(i32::MAX));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            " 1",
            "1.0",
            "2147483648",
            "99999999999",
            "abc",
            "１",
        ] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
    }
}
