//! Client TLS: the rustls config for exporters (roots, client certificate, `insecure_skip_verify`,
//! `server_name_override`) and a connector that lets tonic use it.

use std::sync::{Arc, OnceLock, RwLock};

use futures::future::BoxFuture;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::{load_identity, load_roots, provider, versions, ClientTls, Pem};

pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP: &[u8] = b"http/1.1";

pub(super) fn build(tls: &ClientTls, alpn: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = provider(&tls.cipher_suites, &tls.curve_preferences)?;
    if tls.insecure_skip_verify {
        tracing::warn!("tls::insecure_skip_verify is set: the server's certificate is not checked");
    }
    let state = Arc::new(Material::load(tls, &provider)?);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(&tls.min_version, &tls.max_version)?)
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Reloading(state.clone())))
        .with_client_cert_resolver(Arc::new(Reloading(state.clone())));
    let mut cfg = builder;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    if let Some(every) = reload_every(tls) {
        watch(Arc::downgrade(&state), tls.clone(), provider, every);
    }
    Ok(Arc::new(cfg))
}

/// How often to re-read the files: `reload_interval: 0s` (or none) means "never", as otelcol (a zero
/// tokio interval would panic the watch task).
fn reload_every(tls: &ClientTls) -> Option<std::time::Duration> {
    tls.reload_interval.filter(|d| !d.is_zero())
}

/// What a client's TLS reads from files: the verifier (roots) and the client certificate.
#[derive(Debug)]
struct Material {
    verifier: RwLock<Arc<dyn ServerCertVerifier>>,
    identity: RwLock<Option<Arc<rustls::sign::CertifiedKey>>>,
}

impl Material {
    fn load(tls: &ClientTls, provider: &Arc<CryptoProvider>) -> Result<Material, String> {
        let (verifier, identity) = load_material(tls, provider)?;
        Ok(Material {
            verifier: RwLock::new(verifier),
            identity: RwLock::new(identity),
        })
    }

    fn verifier(&self) -> Arc<dyn ServerCertVerifier> {
        match self.verifier.read() {
            Ok(v) => v.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn identity(&self) -> Option<Arc<rustls::sign::CertifiedKey>> {
        match self.identity.read() {
            Ok(v) => v.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

type Loaded = (
    Arc<dyn ServerCertVerifier>,
    Option<Arc<rustls::sign::CertifiedKey>>,
);

fn load_material(tls: &ClientTls, provider: &Arc<CryptoProvider>) -> Result<Loaded, String> {
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(NoVerify(provider.clone()))
    } else {
        let roots = load_roots(
            tls.ca_file.as_deref(),
            tls.ca_pem.as_deref(),
            "ca_file",
            tls.include_system_ca_certs_pool,
            true,
        )?;
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| format!("TLS roots: {e}"))?;
        match &tls.server_name_override {
            Some(name) => Arc::new(OverrideName {
                inner: webpki,
                name: ServerName::try_from(name.clone()).map_err(|_| {
                    format!("tls::server_name_override {name:?} is not a valid name")
                })?,
            }),
            None => webpki,
        }
    };
    let cert = match (&tls.cert_file, &tls.cert_pem) {
        (Some(path), _) => Some(Pem::File {
            key: "cert_file",
            path,
        }),
        (None, Some(pem)) => Some(Pem::Inline {
            key: "cert_pem",
            pem,
        }),
        _ => None,
    };
    let key = match (&tls.key_file, &tls.key_pem) {
        (Some(path), _) => Some(Pem::File {
            key: "key_file",
            path,
        }),
        (None, Some(pem)) => Some(Pem::Inline {
            key: "key_pem",
            pem: pem.expose(),
        }),
        _ => None,
    };
    let identity = match (cert, key) {
        (Some(c), Some(k)) => {
            let (certs, key) = load_identity(c, k, provider)?;
            Some(Arc::new(
                rustls::sign::CertifiedKey::from_der(certs, key, provider)
                    .map_err(|e| format!("TLS client certificate: {e}"))?,
            ))
        }
        (None, None) => None,
        _ => return Err("tls::cert_file and tls::key_file must be given together".into()),
    };
    Ok((verifier, identity))
}

/// Re-reads the CA and client certificate files every `every` when they change, for as long as the
/// config is in use (the task ends when the last connection config is dropped).
fn watch(
    state: std::sync::Weak<Material>,
    tls: ClientTls,
    provider: Arc<CryptoProvider>,
    every: std::time::Duration,
) {
    let files: Vec<std::path::PathBuf> = [&tls.ca_file, &tls.cert_file, &tls.key_file]
        .into_iter()
        .flatten()
        .map(Into::into)
        .collect();
    // The task ends with the last connection config using `state`.
    let _ = crate::watch::spawn(files, every, move |_| {
        let Some(state) = state.upgrade() else {
            return crate::watch::Outcome::Stop;
        };
        match load_material(&tls, &provider) {
            Ok((v, id)) => {
                if let Ok(mut w) = state.verifier.write() {
                    *w = v;
                }
                if let Ok(mut w) = state.identity.write() {
                    *w = id;
                }
                tracing::info!("client TLS certificates reloaded");
                crate::watch::Outcome::Applied
            }
            Err(e) => {
                tracing::warn!(error = %e, "client TLS reload failed; keeping the previous certificates");
                crate::watch::Outcome::Retry
            }
        }
    });
}

/// Delegates to whatever [`Material`] holds now.
#[derive(Debug)]
struct Reloading(Arc<Material>);

impl ServerCertVerifier for Reloading {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verifier()
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verifier().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verifier().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.verifier().supported_verify_schemes()
    }
}

impl rustls::client::ResolvesClientCert for Reloading {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.0.identity()
    }

    fn has_certs(&self) -> bool {
        self.0.identity().is_some()
    }
}

/// The TLS of a plain-HTTP client ([`ClientTls::http_client`](super::ClientTls::http_client) with
/// `https` false), for the `https://` URLs a redirect may lead to: the system's roots, as reqwest's
/// own default checks them, offering `alpn`.
pub(super) fn system_roots_on_first_use(alpn: &[&[u8]]) -> Result<rustls::ClientConfig, String> {
    let provider = provider(&[], &[])?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions(&None, &None)?)
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SystemRoots::new(provider)))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(cfg)
}

/// The system's roots, read at the first handshake instead of when the client is built: most
/// plain-HTTP clients never make one, and parsing the CA bundle was a quarter of start-up.
#[derive(Debug)]
pub(super) struct SystemRoots {
    provider: Arc<CryptoProvider>,
    pub(super) verifier: OnceLock<Result<Arc<rustls::client::WebPkiServerVerifier>, String>>,
}

impl SystemRoots {
    pub(super) fn new(provider: Arc<CryptoProvider>) -> Self {
        SystemRoots {
            provider,
            verifier: OnceLock::new(),
        }
    }

    fn verifier(&self) -> Result<&rustls::client::WebPkiServerVerifier, rustls::Error> {
        let loaded = self.verifier.get_or_init(|| {
            let roots = load_roots(None, None, "ca_file", true, true)?;
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                self.provider.clone(),
            )
            .build()
            .map_err(|e| format!("TLS roots: {e}"))
        });
        match loaded {
            Ok(v) => Ok(v),
            Err(e) => Err(rustls::Error::General(e.clone())),
        }
    }
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verifier()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake's signatures are still
/// checked (so the session is at least bound to the key the server presented).
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `server_name_override`: the certificate is checked against this name instead of the endpoint's
/// host (reqwest sends the URL's host as SNI; the tonic connector sends the override).
#[derive(Debug)]
struct OverrideName {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for OverrideName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Connects over TCP and then TLS, for tonic's `connect_with_connector`. The endpoint given to tonic
/// is `http://host:port` (tonic refuses `https://` without its own TLS); its `origin` stays https.
#[derive(Clone)]
pub struct TlsConnector {
    tls: tokio_rustls::TlsConnector,
    server_name: Option<ServerName<'static>>,
}

impl TlsConnector {
    pub fn new(cfg: Arc<rustls::ClientConfig>, server_name_override: Option<&str>) -> Self {
        TlsConnector {
            tls: tokio_rustls::TlsConnector::from(cfg),
            server_name: server_name_override
                .and_then(|n| ServerName::try_from(n.to_string()).ok()),
        }
    }
}

type Io = TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

impl tower::Service<http::Uri> for TlsConnector {
    type Response = Io;
    type Error = std::io::Error;
    type Future = BoxFuture<'static, Result<Io, std::io::Error>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let invalid =
                |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_string());
            let host = uri.host().ok_or_else(|| invalid("endpoint has no host"))?;
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let name = match this.server_name {
                Some(n) => n,
                None => ServerName::try_from(host.clone())
                    .map_err(|_| invalid("endpoint host is not a valid TLS server name"))?,
            };
            let stream = this.tls.connect(name, tcp).await?;
            Ok(TokioIo::new(stream))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_reload_interval_means_no_reload() {
        let mut tls = ClientTls {
            reload_interval: Some(std::time::Duration::ZERO),
            ..Default::default()
        };
        assert_eq!(reload_every(&tls), None);
        tls.reload_interval = Some(std::time::Duration::from_secs(5));
        assert_eq!(reload_every(&tls), Some(std::time::Duration::from_secs(5)));
    }
}
