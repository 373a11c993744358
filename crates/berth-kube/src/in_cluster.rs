//! The client configuration of a pod: the API server from the
//! `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT` variables the
//! kubelet sets in every container, and the service account's token, CA and
//! namespace from the files it mounts.
//!
//! kube's own `Config::incluster` does the same with fixed paths, and when
//! something is missing says only "failed to read an incluster environment
//! variable: environment variable not found". This says which variable or
//! file, what that means and what to do; and the directory is a parameter,
//! so a projected token mounted elsewhere works (and a test can run it).

use std::path::{Path, PathBuf};

use crate::cluster::ConnectError;

/// Where the kubelet mounts a pod's service account.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

const HOST: &str = "KUBERNETES_SERVICE_HOST";
const PORT: &str = "KUBERNETES_SERVICE_PORT";

/// What to do when berthd is not in a pod at all.
const NOT_A_POD: &str = "berthd is not running in a Kubernetes pod (the kubelet sets \
    KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT in every container). Run it in a pod \
    with a service account (the Helm chart does), or, outside a cluster, set [kubernetes] \
    mode = \"kubeconfig\" with kubeconfig = \"<file>\", or mode = \"embedded\"";

/// What to do when the pod has no service account mounted.
const NO_ACCOUNT: &str = "the pod has no service account token mounted: give it a \
    ServiceAccount with automountServiceAccountToken: true (the Helm chart does), or mount \
    a projected token, ca.crt and namespace in a directory and name it in \
    kubernetes.service_account_dir";

/// The API server's URL and the configuration of a client that reaches it
/// as the service account in `dir`; `var` reads the environment.
pub fn config(
    dir: &Path,
    var: impl Fn(&str) -> Option<String>,
) -> Result<(String, kube::Config), ConnectError> {
    let missing = |name: &str| {
        ConnectError::new(format!(
            "kubernetes.mode is \"in_cluster\" but {name} is not set: {NOT_A_POD}"
        ))
    };
    let host = var(HOST)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| missing(HOST))?;
    let port = var(PORT)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| missing(PORT))?;
    let port: u16 = port.parse().map_err(|_| {
        ConnectError::new(format!(
            "kubernetes.mode is \"in_cluster\" but {PORT} is {port:?}, not a port number"
        ))
    })?;
    let url = api_url(&host, port);
    let uri: http::Uri = url.parse().map_err(|e| {
        ConnectError::new(format!(
            "kubernetes.mode is \"in_cluster\" but {HOST} and {PORT} make {url:?}, not a URL: {e}"
        ))
    })?;

    let token = dir.join("token");
    read(&token, "service account token")?;
    let ca = dir.join("ca.crt");
    let pem = read(&ca, "cluster CA bundle")?;
    let certs = parse_certs(&pem).map_err(|reason| {
        ConnectError::new(format!(
            "kubernetes.mode is \"in_cluster\" but the cluster CA bundle {} is not usable: {reason}",
            ca.display()
        ))
    })?;
    // The namespace file is a convenience of the mount; Berth names the
    // namespace of every request itself.
    let namespace = std::fs::read_to_string(dir.join("namespace"))
        .map(|n| n.trim().to_owned())
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned());

    let mut config = kube::Config::new(uri);
    config.default_namespace = namespace;
    config.root_cert = Some(certs);
    // Re-read by the client, so a rotated CA or token is picked up.
    config.root_cert_file = Some(ca);
    config.auth_info.token_file = Some(token.to_string_lossy().into_owned());
    Ok((url, config))
}

/// The API server's URL, its port always written so that a message naming
/// it says where it tried.
fn api_url(host: &str, port: u16) -> String {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(ip)) => format!("https://[{ip}]:{port}"),
        _ => format!("https://{host}:{port}"),
    }
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, ConnectError> {
    std::fs::read(path).map_err(|e| {
        ConnectError::new(format!(
            "kubernetes.mode is \"in_cluster\" but the {what} {} cannot be read ({e}): {NO_ACCOUNT}",
            path.display()
        ))
    })
}

/// The DER certificates of a PEM bundle; at least one.
fn parse_certs(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{e:?}"))?;
    if certs.is_empty() {
        return Err("it holds no PEM certificate".to_owned());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn outside_a_pod_the_missing_variable_is_named() {
        let dir = Path::new("/nonexistent");
        let err = config(dir, env(&[])).expect_err("no pod").to_string();
        assert!(err.contains("KUBERNETES_SERVICE_HOST is not set"), "{err}");
        assert!(err.contains("mode = \"kubeconfig\""), "{err}");
        let err = config(dir, env(&[(HOST, "10.96.0.1")]))
            .expect_err("no port")
            .to_string();
        assert!(err.contains("KUBERNETES_SERVICE_PORT is not set"), "{err}");
        let err = config(dir, env(&[(HOST, "10.96.0.1"), (PORT, "https")]))
            .expect_err("bad port")
            .to_string();
        assert!(
            err.contains("KUBERNETES_SERVICE_PORT is \"https\""),
            "{err}"
        );
    }

    #[test]
    fn a_pod_without_a_service_account_is_told_so_by_the_token_path() {
        let dir = tempfile::tempdir().expect("temp");
        let err = config(dir.path(), env(&[(HOST, "10.96.0.1"), (PORT, "443")]))
            .expect_err("no token")
            .to_string();
        let token = dir.path().join("token");
        assert!(
            err.contains(&format!("service account token {}", token.display())),
            "{err}"
        );
        assert!(err.contains("automountServiceAccountToken"), "{err}");
        std::fs::write(&token, "t").expect("token");
        std::fs::write(dir.path().join("ca.crt"), "not a certificate").expect("ca");
        let err = config(dir.path(), env(&[(HOST, "10.96.0.1"), (PORT, "443")]))
            .expect_err("bad CA")
            .to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
    }

    #[test]
    fn the_url_names_the_port_and_brackets_ipv6() {
        assert_eq!(api_url("10.96.0.1", 443), "https://10.96.0.1:443");
        assert_eq!(api_url("fd00::1", 6443), "https://[fd00::1]:6443");
        assert_eq!(
            api_url("kubernetes.default.svc", 443),
            "https://kubernetes.default.svc:443"
        );
    }
}
