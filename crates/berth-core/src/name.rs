//! DNS-1123 labels: the names Kubernetes gives namespaces, Services and most
//! objects, and so the names of spaces, applications, dev targets and
//! catalog entries, which become parts of such names. Checked here once,
//! and stated here once for the API document: each kind of name is a type
//! whose schema (pattern and length) is made from the same rule as its check.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::Error;

/// A DNS-1123 label no longer than its limit: lowercase letters, digits and
/// `-`, starting and ending with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DnsLabel(String);

impl DnsLabel {
    /// The longest a label may be anywhere.
    pub const MAX: usize = 63;

    /// The longest a subdomain (labels joined by `.`) may be.
    pub const SUBDOMAIN_MAX: usize = 253;

    /// [`DnsLabel::is_valid`] as a regular expression (the length aside),
    /// for the API document; a test holds the two to the same answers.
    pub const PATTERN: &'static str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

    /// The JSON Schema of a label of at most `max` characters.
    pub fn schema(max: usize, description: &str) -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(Self::PATTERN))
            .min_length(Some(1))
            .max_length(Some(max.min(Self::MAX)))
            .description(Some(description))
            .into()
    }

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

    /// Whether `value` is a DNS-1123 subdomain: labels joined by `.`, at
    /// most 253 characters (a StorageClass's name, a label key's prefix).
    pub fn is_subdomain(value: &str) -> bool {
        value.len() <= Self::SUBDOMAIN_MAX
            && value
                .split('.')
                .all(|label| Self::is_valid(label, Self::MAX))
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

/// Declares a kind of name: a DNS label of at most `$max` characters that
/// the API document states as a schema of its own and the service checks
/// with `parse`.
macro_rules! label_kind {
    ($(#[doc = $doc:literal])+ $name:ident, $max:expr, $field:literal) => {
        $(#[doc = $doc])+
        pub struct $name;

        impl $name {
            pub const MAX: usize = $max;

            /// `value` as such a name, or an error naming the field.
            pub fn parse(value: &str) -> Result<DnsLabel, Error> {
                DnsLabel::parse($field, value.to_owned(), Self::MAX)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let doc: Vec<&str> = vec![$($doc.trim()),+];
                DnsLabel::schema(Self::MAX, &doc.join(" "))
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

label_kind! {
    /// An application's (a Helm release's) name in its space: a DNS label of
    /// at most 40 characters, short enough for the Job and Secret names made
    /// from it.
    AppName, 40, "name"
}

label_kind! {
    /// A dev target of a manifest: a DNS label of at most 40 characters.
    TargetName, 40, "target"
}

label_kind! {
    /// A Service in a space: a DNS label.
    ServiceName, DnsLabel::MAX, "service"
}

label_kind! {
    /// A chart repository's or a catalog item's name: a DNS label.
    CatalogName, DnsLabel::MAX, "name"
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
        let pattern = regex::Regex::new(DnsLabel::PATTERN).expect("a regular expression");
        for (value, max, valid) in cases {
            let by_schema = pattern.is_match(value) && value.chars().count() <= max.min(63);
            assert_eq!(
                by_schema, valid,
                "the schema says otherwise of {value:?} (max {max})"
            );
        }
        let err = DnsLabel::parse("target", "Web".to_owned(), 40).expect_err("uppercase");
        assert_eq!(
            err.message,
            "target: \"Web\" must be 1 to 40 lowercase letters, digits or '-', starting and ending with a letter or digit"
        );
    }
}
