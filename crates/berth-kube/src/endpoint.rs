//! Where an endpoint's requests go: the address of a Service in a space,
//! read from the Service itself (pure), and the read of the Service.

use std::net::IpAddr;

use serde_json::Value;

use crate::apply::ApplyError;
use crate::cluster::Cluster;

/// The `host:port` that reaches `port` (the Service's first port when
/// none is given) of the Service `service` in `namespace`: its cluster IP,
/// or its DNS name when it is headless. An error says, in words for the
/// developer, why it cannot be reached.
pub fn address(service: &Value, namespace: &str, port: Option<u16>) -> Result<String, String> {
    let name = service["metadata"]["name"].as_str().unwrap_or_default();
    let spec = &service["spec"];
    if spec["type"] == "ExternalName" {
        return Err(format!(
            "service {name} is an ExternalName (to {}); an endpoint serves a Service with pods in the space",
            spec["externalName"].as_str().unwrap_or("elsewhere")
        ));
    }
    let ports: Vec<u16> = spec["ports"]
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p["port"].as_u64().and_then(|n| u16::try_from(n).ok()))
                .collect()
        })
        .unwrap_or_default();
    let port = match port {
        Some(port) if ports.contains(&port) => port,
        Some(port) => {
            let have: Vec<String> = ports.iter().map(u16::to_string).collect();
            return Err(format!(
                "service {name} has no port {port} (it has {})",
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            ));
        }
        None => *ports
            .first()
            .ok_or_else(|| format!("service {name} has no ports"))?,
    };
    match spec["clusterIP"].as_str().map(str::parse::<IpAddr>) {
        Some(Ok(IpAddr::V4(ip))) => Ok(format!("{ip}:{port}")),
        Some(Ok(IpAddr::V6(ip))) => Ok(format!("[{ip}]:{port}")),
        _ => Ok(format!("{name}.{namespace}.svc:{port}")),
    }
}

impl Cluster {
    /// The Service `name` in `namespace`, whole; none when there is no
    /// such Service.
    pub async fn service(&self, namespace: &str, name: &str) -> Result<Option<Value>, ApplyError> {
        let api = self.workloads(namespace, "Service", "v1", "services");
        self.get_whole(&api, "Service", name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(spec: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn a_service_is_reached_at_its_cluster_ip_or_its_name() {
        let plain =
            service(json!({"clusterIP": "10.96.0.7", "ports": [{"port": 80}, {"port": 443}]}));
        assert_eq!(address(&plain, "dev", None), Ok("10.96.0.7:80".to_owned()));
        assert_eq!(
            address(&plain, "dev", Some(443)),
            Ok("10.96.0.7:443".to_owned())
        );
        let headless = service(json!({"clusterIP": "None", "ports": [{"port": 8080}]}));
        assert_eq!(
            address(&headless, "dev", None),
            Ok("web.dev.svc:8080".to_owned())
        );
        let v6 = service(json!({"clusterIP": "fd00::7", "ports": [{"port": 80}]}));
        assert_eq!(address(&v6, "dev", None), Ok("[fd00::7]:80".to_owned()));
    }

    #[test]
    fn what_cannot_be_reached_is_named() {
        let plain = service(json!({"clusterIP": "10.96.0.7", "ports": [{"port": 80}]}));
        assert_eq!(
            address(&plain, "dev", Some(8080)),
            Err("service web has no port 8080 (it has 80)".to_owned())
        );
        let external = service(json!({"type": "ExternalName", "externalName": "db.example.com"}));
        let err = address(&external, "dev", None).expect_err("not in the space");
        assert!(err.contains("db.example.com"), "{err}");
        let bare = service(json!({"clusterIP": "10.96.0.7"}));
        assert_eq!(
            address(&bare, "dev", None),
            Err("service web has no ports".to_owned())
        );
    }
}
