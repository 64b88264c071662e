//! TLS as otelcol's `configtls`, on rustls (no OpenSSL): the `tls:` settings of servers (receivers) and
//! clients (exporters), PEM loading whose errors name the key, the file and the problem (missing,
//! unreadable, not PEM, key does not match certificate, expired), and certificates re-read from disk
//! every `reload_interval` without a restart.

mod client;
pub mod der;
mod server;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::SupportedProtocolVersion;
use serde::Deserialize;

use crate::config::duration::opt_duration;
use crate::config::secret::Secret;
use crate::config::ConfigError;

pub use client::{TlsConnector, ALPN_H2, ALPN_HTTP};
pub use server::ReloadingServerTls;

/// Server-side `tls:` (receivers), otelcol's `configtls.ServerConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub cert_pem: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub key_pem: Option<Secret>,
    /// Clients must present a certificate signed by one of these (mutual TLS).
    #[serde(default)]
    pub client_ca_file: Option<String>,
    /// Re-read `client_ca_file` when it changes (checked every `reload_interval`, or every 10s).
    #[serde(default)]
    pub client_ca_file_reload: bool,
    /// Accepted as otelcol does; on a server it does not require client certificates.
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub ca_pem: Option<String>,
    #[serde(default)]
    pub include_system_ca_certs_pool: bool,
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    #[serde(default)]
    pub curve_preferences: Vec<String>,
    #[serde(default, with = "opt_duration")]
    pub reload_interval: Option<Duration>,
}

/// Client-side `tls:` (exporters), otelcol's `configtls.ClientConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub ca_pem: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub cert_pem: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub key_pem: Option<Secret>,
    #[serde(default)]
    pub server_name_override: Option<String>,
    #[serde(default)]
    pub include_system_ca_certs_pool: bool,
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    #[serde(default)]
    pub curve_preferences: Vec<String>,
    #[serde(default, with = "opt_duration")]
    pub reload_interval: Option<Duration>,
}

/// Where a piece of PEM comes from, for loading and for error messages.
#[derive(Clone, Copy)]
enum Pem<'a> {
    File { key: &'static str, path: &'a str },
    Inline { key: &'static str, pem: &'a str },
}

impl Pem<'_> {
    fn describe(&self) -> String {
        match self {
            Pem::File { key, path } => format!("tls::{key} {path:?}"),
            Pem::Inline { key, .. } => format!("tls::{key}"),
        }
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        match self {
            Pem::Inline { pem, .. } => Ok(pem.as_bytes().to_vec()),
            Pem::File { path, .. } => std::fs::read(path).map_err(|e| {
                let why = match e.kind() {
                    std::io::ErrorKind::NotFound => "file not found".to_string(),
                    std::io::ErrorKind::PermissionDenied => {
                        "cannot be read: permission denied".to_string()
                    }
                    _ if std::path::Path::new(path).is_dir() => {
                        "cannot be read: it is a directory".to_string()
                    }
                    _ => format!("cannot be read: {e}"),
                };
                format!("{}: {why}", self.describe())
            }),
        }
    }
}

/// A PEM error in words that never quote the file's contents (it may be a private key).
fn pem_error(what: &Pem<'_>, e: pem::Error, block: &str) -> String {
    let why = match e {
        pem::Error::NoItemsFound => format!("is not PEM (no {block} block found)"),
        pem::Error::MissingSectionEnd { .. } => "is not valid PEM: a block has no END line".into(),
        pem::Error::IllegalSectionStart { .. } => "is not valid PEM: a malformed BEGIN line".into(),
        pem::Error::Base64Decode(_) => "is not valid PEM: bad base64 in a block".into(),
        _ => "is not valid PEM".into(),
    };
    format!("{} {why}", what.describe())
}

fn load_certs(src: Pem<'_>) -> Result<Vec<CertificateDer<'static>>, String> {
    let data = src.bytes()?;
    let certs = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&src, e, "CERTIFICATE"))?;
    if certs.is_empty() {
        return Err(pem_error(&src, pem::Error::NoItemsFound, "CERTIFICATE"));
    }
    Ok(certs)
}

fn load_key(src: Pem<'_>) -> Result<PrivateKeyDer<'static>, String> {
    let data = src.bytes()?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| pem_error(&src, e, "PRIVATE KEY"))
}

/// The certificate and key, checked: they match, and the certificate is within its validity period.
fn load_identity(
    cert: Pem<'_>,
    key: Pem<'_>,
    provider: &CryptoProvider,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs = load_certs(cert)?;
    let key_der = load_key(key)?;
    check_validity(&cert, &certs[0])?;
    match rustls::sign::CertifiedKey::from_der(certs.clone(), key_der.clone_key(), provider) {
        Ok(_) => Ok((certs, key_der)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(format!(
                "{} does not match the certificate in {}",
                key.describe(),
                cert.describe()
            ))
        }
        Err(rustls::Error::InconsistentKeys(_)) => Ok((certs, key_der)),
        Err(e) => Err(format!(
            "{}: unsupported or malformed private key ({})",
            key.describe(),
            match e {
                rustls::Error::General(_) => "not an RSA, ECDSA or Ed25519 key".to_string(),
                other => other.to_string(),
            }
        )),
    }
}

fn check_validity(src: &Pem<'_>, cert: &CertificateDer<'_>) -> Result<(), String> {
    let Some((not_before, not_after)) = der::validity(cert) else {
        return Err(format!(
            "{}: the first certificate cannot be parsed",
            src.describe()
        ));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if now > not_after {
        return Err(format!(
            "{}: the certificate expired on {}",
            src.describe(),
            der::format_time(not_after)
        ));
    }
    if now < not_before {
        return Err(format!(
            "{}: the certificate is not valid before {}",
            src.describe(),
            der::format_time(not_before)
        ));
    }
    Ok(())
}

/// Roots from a CA file and/or inline PEM, plus the system's when asked (or when neither is given
/// and `system_by_default`).
fn load_roots(
    ca_file: Option<&str>,
    ca_pem: Option<&str>,
    file_key: &'static str,
    include_system: bool,
    system_by_default: bool,
) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let mut sources = Vec::new();
    if let Some(path) = ca_file {
        sources.push(Pem::File {
            key: file_key,
            path,
        });
    }
    if let Some(pem) = ca_pem {
        sources.push(Pem::Inline { key: "ca_pem", pem });
    }
    for src in &sources {
        for c in load_certs(*src)? {
            roots
                .add(c)
                .map_err(|e| format!("{}: not a usable CA certificate: {e}", src.describe()))?;
        }
    }
    if include_system || (sources.is_empty() && system_by_default) {
        let native = rustls_native_certs::load_native_certs();
        for c in native.certs {
            let _ = roots.add(c);
        }
        if roots.is_empty() {
            return Err("no system CA certificates found; set tls::ca_file".into());
        }
    }
    Ok(roots)
}

fn parse_version(v: &str) -> Option<u8> {
    match v.trim() {
        "1.0" => Some(0),
        "1.1" => Some(1),
        "1.2" => Some(2),
        "1.3" => Some(3),
        _ => None,
    }
}

/// The TLS versions allowed by `min_version` (default 1.2) and `max_version` (default 1.3). rustls has
/// no TLS 1.0 or 1.1: a `min_version` below 1.2 means 1.2.
fn versions(
    min: &Option<String>,
    max: &Option<String>,
) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let parse = |key: &str, v: &str| {
        parse_version(v).ok_or_else(|| format!("{key}: unknown TLS version {v:?} (1.2, 1.3)"))
    };
    let lo = match min {
        None => 2,
        Some(v) => parse("min_version", v)?.max(2),
    };
    let hi = match max {
        None => 3,
        Some(v) => parse("max_version", v)?,
    };
    let mut v = Vec::new();
    if lo <= 2 && hi >= 2 {
        v.push(&rustls::version::TLS12);
    }
    if hi >= 3 {
        v.push(&rustls::version::TLS13);
    }
    if v.is_empty() {
        return Err("no TLS version left between min_version and max_version".into());
    }
    Ok(v)
}

fn check_versions(
    min: &Option<String>,
    max: &Option<String>,
    path: &str,
    errors: &mut Vec<ConfigError>,
) {
    for (key, v) in [("min_version", min), ("max_version", max)] {
        if let Some(v) = v {
            if parse_version(v).is_none() {
                errors.push(ConfigError::new(
                    format!("{path}::{key}"),
                    format!("unknown TLS version {v:?} (1.2, 1.3)"),
                ));
            }
        }
    }
    if max
        .as_deref()
        .and_then(parse_version)
        .is_some_and(|hi| hi < 2)
    {
        errors.push(ConfigError::new(
            format!("{path}::max_version"),
            "TLS 1.0 and 1.1 are not supported (ferrotel uses rustls); use 1.2 or 1.3",
        ));
    }
    let lo = min.as_deref().and_then(parse_version).unwrap_or(2);
    let hi = max.as_deref().and_then(parse_version).unwrap_or(3);
    if lo > hi {
        errors.push(ConfigError::new(
            format!("{path}::min_version"),
            "min_version is greater than max_version",
        ));
    }
}

/// The ring provider, with `cipher_suites` (IANA names, as Go's) and `curve_preferences` applied.
/// TLS 1.3 suites are always enabled, as in Go.
fn provider(suites: &[String], curves: &[String]) -> Result<Arc<CryptoProvider>, String> {
    let mut p = rustls::crypto::ring::default_provider();
    if !suites.is_empty() {
        let mut unknown = Vec::new();
        for s in suites {
            if !p.cipher_suites.iter().any(|c| suite_matches(c, s)) {
                unknown.push(s.clone());
            }
        }
        if !unknown.is_empty() {
            return Err(format!(
                "unsupported cipher suites {unknown:?}; supported: {}",
                p.cipher_suites
                    .iter()
                    .filter(|c| c.tls13().is_none())
                    .map(|c| format!("{:?}", c.suite()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        p.cipher_suites
            .retain(|c| c.tls13().is_some() || suites.iter().any(|s| suite_matches(c, s)));
    }
    if !curves.is_empty() {
        let mut groups = Vec::new();
        for c in curves {
            let name = match c.to_ascii_uppercase().as_str() {
                "X25519" => "X25519",
                "P256" | "P-256" | "CURVEP256" => "secp256r1",
                "P384" | "P-384" | "CURVEP384" => "secp384r1",
                _ => return Err(format!("unsupported curve {c:?} (X25519, P256, P384)")),
            };
            if let Some(g) = p
                .kx_groups
                .iter()
                .find(|g| format!("{:?}", g.name()) == name)
            {
                groups.push(*g);
            }
        }
        p.kx_groups = groups;
    }
    Ok(Arc::new(p))
}

fn suite_matches(c: &rustls::SupportedCipherSuite, name: &str) -> bool {
    let ours = format!("{:?}", c.suite());
    let name = name.trim();
    // Go names the ChaCha20 suites without the hash: TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305.
    ours == name || ours.strip_suffix("_SHA256") == Some(name)
}

fn check_pair(
    file: &Option<String>,
    pem: bool,
    key: &'static str,
    path: &str,
    errors: &mut Vec<ConfigError>,
) {
    if file.is_some() && pem {
        errors.push(ConfigError::new(
            format!("{path}::{key}_file"),
            format!("set {key}_file or {key}_pem, not both"),
        ));
    }
}

impl ServerTls {
    /// Checks the settings that need no file; files are read (and named in errors) at start-up.
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        check_pair(
            &self.cert_file,
            self.cert_pem.is_some(),
            "cert",
            path,
            errors,
        );
        check_pair(&self.key_file, self.key_pem.is_some(), "key", path, errors);
        let has_cert = self.cert_file.is_some() || self.cert_pem.is_some();
        let has_key = self.key_file.is_some() || self.key_pem.is_some();
        if !has_cert || !has_key {
            errors.push(ConfigError::new(
                format!(
                    "{path}::{}",
                    if has_cert { "key_file" } else { "cert_file" }
                ),
                "a TLS server needs both cert_file and key_file (or cert_pem and key_pem)",
            ));
        }
        check_versions(&self.min_version, &self.max_version, path, errors);
        if let Err(e) = provider(&self.cipher_suites, &self.curve_preferences) {
            errors.push(ConfigError::new(
                format!(
                    "{path}::{}",
                    if e.contains("curve") {
                        "curve_preferences"
                    } else {
                        "cipher_suites"
                    }
                ),
                e,
            ));
        }
        if self.reload_interval.is_some_and(|d| d.is_zero()) {
            errors.push(ConfigError::new(
                format!("{path}::reload_interval"),
                "must be positive (leave it out to never reload)",
            ));
        }
    }

    fn cert_src(&self) -> Option<Pem<'_>> {
        match (&self.cert_file, &self.cert_pem) {
            (Some(path), _) => Some(Pem::File {
                key: "cert_file",
                path,
            }),
            (None, Some(pem)) => Some(Pem::Inline {
                key: "cert_pem",
                pem,
            }),
            _ => None,
        }
    }

    fn key_src(&self) -> Option<Pem<'_>> {
        match (&self.key_file, &self.key_pem) {
            (Some(path), _) => Some(Pem::File {
                key: "key_file",
                path,
            }),
            (None, Some(pem)) => Some(Pem::Inline {
                key: "key_pem",
                pem: pem.expose(),
            }),
            _ => None,
        }
    }

    /// Files whose change triggers a reload.
    fn watched_files(&self) -> Vec<String> {
        [&self.cert_file, &self.key_file, &self.client_ca_file]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// Reads the files and builds the rustls config; `alpn` lists the protocols offered.
    pub fn load(&self, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, String> {
        let provider = provider(&self.cipher_suites, &self.curve_preferences)?;
        let (Some(cert), Some(key)) = (self.cert_src(), self.key_src()) else {
            return Err("a TLS server needs both cert_file and key_file".into());
        };
        let (certs, key) = load_identity(cert, key, &provider)?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions(&self.min_version, &self.max_version)?)
            .map_err(|e| format!("TLS versions: {e}"))?;
        let builder = match &self.client_ca_file {
            Some(ca) => {
                let roots = load_roots(Some(ca), None, "client_ca_file", false, false)?;
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| format!("tls::client_ca_file {ca:?}: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut cfg = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("TLS certificate: {e}"))?;
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(cfg))
    }
}

impl ClientTls {
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        check_pair(
            &self.cert_file,
            self.cert_pem.is_some(),
            "cert",
            path,
            errors,
        );
        check_pair(&self.key_file, self.key_pem.is_some(), "key", path, errors);
        let has_cert = self.cert_file.is_some() || self.cert_pem.is_some();
        let has_key = self.key_file.is_some() || self.key_pem.is_some();
        if has_cert != has_key {
            errors.push(ConfigError::new(
                format!(
                    "{path}::{}",
                    if has_cert { "key_file" } else { "cert_file" }
                ),
                "a client certificate needs both cert_file and key_file",
            ));
        }
        check_versions(&self.min_version, &self.max_version, path, errors);
        if let Err(e) = provider(&self.cipher_suites, &self.curve_preferences) {
            errors.push(ConfigError::new(format!("{path}::cipher_suites"), e));
        }
    }

    /// Builds the rustls client config: `alpn` lists the protocols offered. Clients use
    /// [`ClientTls::http_client`] or [`ClientTls::grpc_connector`], which call this.
    pub fn load(&self, alpn: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>, String> {
        client::build(self, alpn)
    }

    /// The one TLS set-up of every HTTP client (`otlp_http`, `prometheusremotewrite`, the
    /// `prometheus` receiver's scrapes): when the client talks to `https://` URLs (`https`) and
    /// `insecure` is not set, `builder` gets this config (roots, client certificate,
    /// `insecure_skip_verify`, `server_name_override`, versions, suites, reloads); otherwise it is
    /// returned as it was. `alpn` lists the protocols offered ([`ALPN_H2`], [`ALPN_HTTP`]).
    pub fn http_client(
        &self,
        builder: reqwest::ClientBuilder,
        https: bool,
        alpn: &[&[u8]],
    ) -> Result<reqwest::ClientBuilder, String> {
        if !https {
            // Only a redirect takes a plain-HTTP client to TLS: it checks the system's roots, as
            // reqwest's default would, but reads them at that handshake, not at start-up.
            return Ok(builder.use_preconfigured_tls(client::system_roots_on_first_use(alpn)?));
        }
        if self.insecure {
            return Ok(builder);
        }
        Ok(builder.use_preconfigured_tls((*self.load(alpn)?).clone()))
    }

    /// The one TLS set-up of every gRPC client (`otlp_grpc`, and through it `loadbalancing`'s
    /// backends): a connector for tonic that dials TCP, then TLS offering `h2`, checking the
    /// certificate against `server_name_override` when it is set.
    pub fn grpc_connector(&self) -> Result<TlsConnector, String> {
        Ok(TlsConnector::new(
            self.load(&[ALPN_H2])?,
            self.server_name_override.as_deref(),
        ))
    }

    /// Reads a PEM file, naming `what` and the file in the error. Kept for callers that need raw PEM.
    pub fn read_pem(path: &str, what: &str) -> Result<Vec<u8>, String> {
        let data = std::fs::read(path).map_err(|e| format!("cannot read {what} {path:?}: {e}"))?;
        if !String::from_utf8_lossy(&data).contains("-----BEGIN") {
            return Err(format!("{what} {path:?} is not PEM"));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests;
