//! DNS-1123 labels: the names Kubernetes gives namespaces, Services and most
//! objects, and so the names of spaces, applications, dev targets and
//! catalog entries, which become parts of such names. Checked here once.

use crate::Error;

/// A DNS-1123 label no longer than its limit: lowercase letters, digits and
/// `-`, starting and ending with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DnsLabel(String);

impl DnsLabel {
    /// The longest a label may be anywhere.
    pub const MAX: usize = 63;

    /// Whether `value` is a label of at most `max` characters.
    pub fn is_valid(value: &str, max: usize) -> bool {
        let bytes = value.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                bytes.len() <= max.min(Self::MAX)
                    && first.is_ascii_alphanumeric()
                    && last.is_ascii_alphanumeric()
                    && bytes
                        .iter()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            }
            _ => false,
        }
    }

    /// What a label of at most `max` characters must be, for messages.
    pub fn rule(max: usize) -> String {
        format!(
            "1 to {} lowercase letters, digits or '-', starting and ending with a letter or digit",
            max.min(Self::MAX)
        )
    }

    /// `value` as a label of at most `max` characters, or an error that
    /// names `field` and says what it must be.
    pub fn parse(field: &str, value: String, max: usize) -> Result<DnsLabel, Error> {
        if Self::is_valid(&value, max) {
            Ok(DnsLabel(value))
        } else {
            Err(Error::invalid(
                field,
                format!("{value:?} must be {}", Self::rule(max)),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for DnsLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::DnsLabel;

    #[test]
    fn labels() {
        let cases = [
            ("a", 63, true),
            ("web-2", 63, true),
            ("0web", 63, true),
            (&*"x".repeat(63), 63, true),
            (&*"x".repeat(64), 63, false),
            (&*"x".repeat(41), 40, false),
            (&*"x".repeat(64), 100, false),
            ("", 63, false),
            ("-web", 63, false),
            ("web-", 63, false),
            ("Web", 63, false),
            ("we_b", 63, false),
            ("we.b", 63, false),
            ("wé", 63, false),
        ];
        for (value, max, valid) in cases {
            assert_eq!(
                DnsLabel::is_valid(value, max),
                valid,
                "{value:?} (max {max})"
            );
        }
        let err = DnsLabel::parse("target", "Web".to_owned(), 40).expect_err("uppercase");
        assert_eq!(
            err.message,
            "target: \"Web\" must be 1 to 40 lowercase letters, digits or '-', starting and ending with a letter or digit"
        );
    }
}
