//! Endpoints: a Service in a space served at its own HTTPS address by
//! berthd's reverse proxy, `https://SERVICE-SPACE.<endpoints domain>`, to
//! whom its access level lets in.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Error;
use crate::name::DnsLabel;
use crate::time::Timestamp;

/// Who may reach an endpoint.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EndpointAccess {
    /// Signed-in members of the space (and admins).
    #[default]
    Private,
    /// Any signed-in Berth user.
    Team,
    /// Anyone who has the address.
    Public,
}

impl EndpointAccess {
    pub const ALL: [EndpointAccess; 3] = [Self::Private, Self::Team, Self::Public];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Team => "team",
            Self::Public => "public",
        }
    }
}

impl std::fmt::Display for EndpointAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EndpointAccess {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "access",
                    format!("`{s}` is not an access level: private, team or public"),
                )
            })
    }
}

/// What the owner of a space asks for a Service: the port to serve and who
/// may reach it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// The Service's port to send requests to; its first port when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    #[serde(default)]
    pub access: EndpointAccess,
}

impl EndpointSpec {
    pub fn validate(&self) -> Result<(), Error> {
        if self.port == Some(0) {
            return Err(Error::invalid("port", "a port is 1 to 65535, not 0"));
        }
        Ok(())
    }
}

/// An endpoint as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EndpointView {
    #[schema(value_type = crate::space::SpaceName)]
    pub space: String,
    /// The Service in the space.
    #[schema(value_type = crate::name::ServiceName)]
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub access: EndpointAccess,
    /// Where browsers and clients reach it.
    pub url: String,
    /// Who last set it.
    pub set_by: String,
    pub updated_at: Timestamp,
}

/// The first label of an endpoint's host name: `SERVICE-SPACE`, refused
/// when longer than a DNS label may be.
pub fn host_label(service: &str, space: &str) -> Result<String, Error> {
    let label = format!("{service}-{space}");
    if label.len() > DnsLabel::MAX {
        return Err(Error::invalid(
            "service",
            format!(
                "`{label}` (service, `-`, space) is {} characters, longer than the {} a host name's label may be",
                label.len(),
                DnsLabel::MAX
            ),
        ));
    }
    Ok(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_levels_read_back_as_written() {
        for access in EndpointAccess::ALL {
            assert_eq!(access.as_str().parse::<EndpointAccess>().ok(), Some(access));
        }
        let err = "everyone"
            .parse::<EndpointAccess>()
            .expect_err("not a level");
        assert!(err.to_string().contains("everyone"), "{err}");
    }

    #[test]
    fn a_host_label_fits_one_dns_label() {
        assert_eq!(
            host_label("web", "alice").ok().as_deref(),
            Some("web-alice")
        );
        let long = "a".repeat(40);
        let err = host_label(&long, &long).expect_err("81 characters");
        assert!(err.to_string().contains("81 characters"), "{err}");
    }

    #[test]
    fn a_spec_refuses_port_zero() {
        let spec = EndpointSpec {
            port: Some(0),
            access: EndpointAccess::Public,
        };
        assert!(spec.validate().is_err());
        let spec: EndpointSpec = serde_json::from_str(r#"{"port": 8080}"#).expect("a spec");
        assert_eq!(spec.access, EndpointAccess::Private);
    }
}
