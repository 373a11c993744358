//! HTTPS for the Kubernetes API proxy when berthd itself serves plain HTTP
//! (the embedded default, a laptop, a cluster reached through a port
//! forward): kubectl sends no credentials over plain HTTP, so the proxy
//! needs a listener of its own with TLS. berthd makes the certificate once
//! (self-signed, for the names it is reached by) and keeps it in its keys
//! folder; `GET /api/v1/kube` hands it to `berth kubeconfig`, which puts it
//! in the kubeconfig as the cluster's authority. Behind an ingress that
//! terminates TLS, none of this is used: kubectl reaches `PUBLIC_URL/kube`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use berth_core::Error;

/// The proxy's own certificate and key, PEM.
#[derive(Clone)]
pub struct KubeTls {
    pub cert_pem: String,
    key_pem: String,
}

const CERT_FILE: &str = "kube-tls.crt";
const KEY_FILE: &str = "kube-tls.key";

impl KubeTls {
    /// A new self-signed certificate for `names` (host names or
    /// addresses), valid for ten years.
    pub fn make(names: &[String]) -> Result<KubeTls, Error> {
        let key = rcgen::KeyPair::generate().map_err(Error::internal)?;
        let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| {
            Error::invalid(
                "server.kube_listen",
                format!("cannot name a certificate so: {e}"),
            )
        })?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "berthd Kubernetes API proxy");
        params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let cert = params.self_signed(&key).map_err(Error::internal)?;
        Ok(KubeTls {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The certificate kept in `dir`, or a new one for `names` written
    /// there (the key readable by its owner only). A kept pair that does
    /// not load is an error naming the files, never silently replaced.
    pub fn load_or_make(dir: &Path, names: &[String]) -> Result<KubeTls, Error> {
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if cert_path.exists() || key_path.exists() {
            let read = |path: &Path| {
                std::fs::read_to_string(path)
                    .map_err(|e| Error::internal(format!("cannot read {}: {e}", path.display())))
            };
            let tls = KubeTls {
                cert_pem: read(&cert_path)?,
                key_pem: read(&key_path)?,
            };
            tls.server_config().map_err(|e| {
                Error::internal(format!(
                    "{} and {} do not hold a certificate and its key ({}); remove both to have new ones made",
                    cert_path.display(),
                    key_path.display(),
                    e.detail()
                ))
            })?;
            return Ok(tls);
        }
        let tls = KubeTls::make(names)?;
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::internal(format!("cannot make {}: {e}", dir.display())))?;
        write_private(&key_path, &tls.key_pem)?;
        write_private(&cert_path, &tls.cert_pem)?;
        Ok(tls)
    }

    fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, Error> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(format!("the certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| Error::internal(format!("the key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(Error::internal)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| Error::internal(format!("the certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .map_err(|e| Error::internal(format!("cannot write {}: {e}", path.display())))
}

/// Serves `router` over TLS on `listener` until `stop` resolves. A
/// connection whose handshake fails is dropped alone.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: &KubeTls,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config()?);
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut stop => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "the Kubernetes API proxy's listener failed to accept");
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(stream) => stream,
                Err(err) => {
                    tracing::debug!(%peer, error = %err, "a TLS handshake with the Kubernetes API proxy failed");
                    return;
                }
            };
            serve_connection(stream, peer, router).await;
        });
    }
}

async fn serve_connection<S>(stream: S, peer: SocketAddr, router: Router)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = router.layer(axum::Extension(ConnectInfo(peer)));
    let service = hyper_util::service::TowerToHyperService::new(service);
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    if let Err(err) = builder
        .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%peer, error = %err, "a Kubernetes API proxy connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let made = KubeTls::load_or_make(dir.path(), &names).expect("made");
        let kept = KubeTls::load_or_make(dir.path(), &names).expect("kept");
        assert_eq!(made.cert_pem, kept.cert_pem);
        assert!(made.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        std::fs::write(dir.path().join(KEY_FILE), "not a key").expect("spoil");
        let err = KubeTls::load_or_make(dir.path(), &names)
            .err()
            .expect("refused");
        assert!(err.detail().contains("remove both"), "{}", err.detail());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(CERT_FILE)).expect("still there"),
            made.cert_pem,
            "nothing kept is replaced"
        );
    }
}
