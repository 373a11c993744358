//! The strings sign-in and tokens take, each a type that holds both its
//! check and the schema the API document states for it, so the two cannot
//! say different things.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

fn string(pattern: Option<&str>, min: usize, max: Option<usize>, about: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(pattern)
        .min_length(Some(min))
        .max_length(max)
        .description(Some(about))
        .into()
}

/// A password for a new account: at least [`NewPassword::MIN`] characters.
pub struct NewPassword;

impl NewPassword {
    pub const MIN: usize = 12;

    pub fn is_valid(password: &str) -> bool {
        password.chars().count() >= Self::MIN
    }
}

impl utoipa::PartialSchema for NewPassword {
    fn schema() -> RefOr<Schema> {
        string(
            None,
            Self::MIN,
            None,
            "A password of at least 12 characters.",
        )
    }
}

impl utoipa::ToSchema for NewPassword {}

/// A personal access token's name: 1 to 100 characters, not all of them
/// blank (spaces or control characters); blanks around it are dropped.
pub struct TokenName;

impl TokenName {
    pub const MAX: usize = 100;
    /// Some character that is not blank.
    const PATTERN: &'static str = "[^\\u0000-\\u0020\\u007f]";

    fn blank(c: char) -> bool {
        c <= ' ' || c == '\u{7f}'
    }

    pub fn is_valid(name: &str) -> bool {
        name.chars().count() <= Self::MAX && name.chars().any(|c| !Self::blank(c))
    }

    /// The name as kept: without the blanks around it.
    pub fn tidy(name: &str) -> &str {
        name.trim_matches(Self::blank)
    }
}

impl utoipa::PartialSchema for TokenName {
    fn schema() -> RefOr<Schema> {
        string(
            Some(Self::PATTERN),
            1,
            Some(Self::MAX),
            "1 to 100 characters, not all of them spaces or control characters (those around the name are dropped).",
        )
    }
}

impl utoipa::ToSchema for TokenName {}

/// A PKCE code verifier or S256 code challenge (RFC 7636): 43 to 128 of
/// `A-Z`, `a-z`, `0-9`, `-`, `.`, `_` and `~`.
pub struct Pkce;

impl Pkce {
    const PATTERN: &'static str = "^[-A-Za-z0-9._~]{43,128}$";

    pub fn is_valid(value: &str) -> bool {
        (43..=128).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    }
}

impl utoipa::PartialSchema for Pkce {
    fn schema() -> RefOr<Schema> {
        string(
            Some(Self::PATTERN),
            43,
            Some(128),
            "43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636).",
        )
    }
}

impl utoipa::ToSchema for Pkce {}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(p: &str) -> regex::Regex {
        regex::Regex::new(p).expect("a regular expression")
    }

    #[test]
    fn the_documented_rules_are_the_checks() {
        let name = pattern(TokenName::PATTERN);
        for value in [
            "ci",
            " ci ",
            "",
            " ",
            "\t\n",
            "\u{7f}",
            "\u{a0}",
            "é",
            &"x".repeat(100),
            &"x".repeat(101),
            &" ".repeat(100),
        ] {
            let by_schema = name.is_match(value) && value.chars().count() <= TokenName::MAX;
            assert_eq!(
                by_schema,
                TokenName::is_valid(value),
                "token name {value:?}"
            );
        }
        let pkce = pattern(Pkce::PATTERN);
        for value in [
            "a".repeat(43),
            "a".repeat(42),
            "a".repeat(128),
            "a".repeat(129),
            format!("{}~._-", "Z9".repeat(20)),
            format!("{}+", "a".repeat(43)),
            format!("{}é", "a".repeat(43)),
        ] {
            assert_eq!(
                pkce.is_match(&value),
                Pkce::is_valid(&value),
                "pkce {value:?}"
            );
        }
        for (value, valid) in [("a".repeat(11), false), ("é".repeat(12), true)] {
            assert_eq!(NewPassword::is_valid(&value), valid, "{value:?}");
        }
    }
}
