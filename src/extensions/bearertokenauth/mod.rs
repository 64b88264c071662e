//! `bearertokenauth`: checks `Authorization: Bearer <token>` on incoming requests (server) and adds it
//! to outgoing ones (client). The token is inline (`token`, `tokens`) or in a file (`filename`) that is
//! re-read when it changes.

use std::any::Any;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{
    ConfigResult, Extension, ExtensionFactory, Host, PreparedExtension, StartError,
};
use crate::config::secret::Secret;
use crate::config::{ComponentId, ConfigError};
use crate::extensions::auth::{
    constant_time_eq, ClientAuthenticator, ServerAuthenticator, WatchedFile,
};
use crate::signal::ClientMetadata;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default = "default_header")]
    pub header: String,
    #[serde(default)]
    pub token: Option<Secret>,
    /// Server side: any of these is accepted; the client sends the first.
    #[serde(default)]
    pub tokens: Vec<Secret>,
    #[serde(default)]
    pub filename: Option<String>,
}

fn default_scheme() -> String {
    "Bearer".into()
}
fn default_header() -> String {
    "Authorization".into()
}

pub struct Factory;

impl ExtensionFactory for Factory {
    fn type_name(&self) -> &'static str {
        "bearertokenauth"
    }

    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExtension>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        // As otelcol: one source is needed, `token` and `tokens` exclude each other, and
        // `filename` may come with either (the file then wins).
        if c.token.is_none() && c.tokens.is_empty() && c.filename.is_none() {
            errors.push(ConfigError::new(
                path,
                "set one of token, tokens or filename",
            ));
        }
        if c.token.is_some() && !c.tokens.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::tokens"),
                "either token or tokens may be set, not both",
            ));
        }
        if HeaderName::from_bytes(c.header.as_bytes()).is_err() {
            errors.push(ConfigError::new(
                format!("{path}::header"),
                format!("{:?} is not a valid header name", c.header),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(c))
    }
}

impl PreparedExtension for Config {
    fn create(&self, id: &ComponentId) -> Result<Arc<dyn Extension>, StartError> {
        let tokens = match &self.filename {
            Some(f) => vec![read_token_file(f)
                .map_err(|e| StartError::new(format!("extensions::{id}::filename"), e))?],
            None => self.token.iter().chain(&self.tokens).cloned().collect(),
        };
        let header = HeaderName::from_bytes(self.header.as_bytes())
            .map_err(|e| StartError::new(format!("extensions::{id}::header"), e))?;
        let inner = Arc::new(Inner {
            id: id.to_string(),
            scheme: self.scheme.clone(),
            header,
            tokens: RwLock::new(tokens),
        });
        Ok(Arc::new(BearerTokenAuth {
            inner,
            file: self.filename.clone().map(WatchedFile::new),
        }))
    }
}

fn read_token_file(path: &str) -> Result<Secret, String> {
    let data = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("token file {path:?} not found"),
        std::io::ErrorKind::PermissionDenied => {
            format!("token file {path:?} cannot be read: permission denied")
        }
        _ => format!("token file {path:?} cannot be read: {e}"),
    })?;
    let token = String::from_utf8(data)
        .map_err(|_| format!("token file {path:?} is not UTF-8 text"))?
        .trim()
        .to_string();
    if token.is_empty() {
        return Err(format!("token file {path:?} is empty"));
    }
    Ok(Secret::new(token))
}

struct Inner {
    id: String,
    scheme: String,
    header: HeaderName,
    tokens: RwLock<Vec<Secret>>,
}

impl Inner {
    fn tokens(&self) -> Vec<Secret> {
        match self.tokens.read() {
            Ok(t) => t.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn expected(&self, token: &Secret) -> String {
        if self.scheme.is_empty() {
            token.expose().to_string()
        } else {
            format!("{} {}", self.scheme, token.expose())
        }
    }
}

#[async_trait]
impl ServerAuthenticator for Inner {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(got) = headers.get(&self.header) else {
            return Err(format!("missing {} header", self.header));
        };
        let got = got.as_bytes();
        // Every token is compared, so the time taken does not tell which one nearly matched.
        let ok = self.tokens().iter().fold(false, |ok, t| {
            ok | constant_time_eq(got, self.expected(t).as_bytes())
        });
        if ok {
            Ok(())
        } else {
            Err(format!("invalid {} token", self.scheme))
        }
    }
}

impl ClientAuthenticator for Inner {
    fn headers(
        &self,
        _metadata: Option<&ClientMetadata>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let tokens = self.tokens();
        let Some(t) = tokens.first() else {
            return Err(format!("{}: no token", self.id));
        };
        let mut v = HeaderValue::from_str(&self.expected(t)).map_err(|_| {
            format!(
                "{}: the token holds characters not allowed in a header",
                self.id
            )
        })?;
        v.set_sensitive(true);
        Ok(vec![(self.header.clone(), v)])
    }
}

pub struct BearerTokenAuth {
    inner: Arc<Inner>,
    file: Option<WatchedFile>,
}

#[async_trait]
impl Extension for BearerTokenAuth {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        if let Some(f) = &self.file {
            let inner = self.inner.clone();
            let path = f.path.clone();
            f.start(move |_| match read_token_file(&path) {
                Ok(t) => {
                    if let Ok(mut w) = inner.tokens.write() {
                        *w = vec![t];
                    }
                    tracing::info!(extension = %inner.id, "bearer token reloaded from {path:?}");
                }
                Err(e) => tracing::warn!(extension = %inner.id, error = %e, "keeping the previous bearer token"),
            });
        }
        Ok(())
    }

    async fn shutdown(&self) {
        if let Some(f) = &self.file {
            f.stop();
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn server_authenticator(&self) -> Option<Arc<dyn ServerAuthenticator>> {
        Some(self.inner.clone())
    }

    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        Some(self.inner.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(yaml: &str) -> Arc<dyn Extension> {
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        Factory
            .prepare(&v, "extensions::bearertokenauth")
            .map_err(|e| format!("{e:?}"))
            .unwrap()
            .create(&ComponentId::parse("bearertokenauth").unwrap())
            .map_err(|e| e.to_string())
            .unwrap()
    }

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(v).unwrap());
        h
    }

    #[tokio::test]
    async fn server_checks_scheme_and_token() {
        let e = ext("token: s3cret");
        let s = e.server_authenticator().unwrap();
        assert!(s.authenticate(&headers("Bearer s3cret")).await.is_ok());
        let err = s.authenticate(&headers("Bearer wrong")).await.unwrap_err();
        assert!(!err.contains("s3cret") && !err.contains("wrong"), "{err}");
        assert!(s.authenticate(&headers("s3cret")).await.is_err());
        assert!(s.authenticate(&HeaderMap::new()).await.is_err());
        let c = e.client_authenticator().unwrap().headers(None).unwrap();
        assert_eq!(c[0].1.to_str().unwrap(), "Bearer s3cret");
        assert!(c[0].1.is_sensitive());
    }

    #[test]
    fn sources_as_otelcol_and_secret_not_in_errors() {
        // otelcol: filename may come with token or tokens (the file wins); token and tokens exclude
        // each other; one is needed.
        for ok in [
            "{token: s3cret, filename: /x}",
            "{tokens: [a, b], filename: /x}",
        ] {
            let v: Value = serde_yaml::from_str(ok).unwrap();
            assert!(Factory.prepare(&v, "p").is_ok(), "{ok}");
        }
        let v: Value = serde_yaml::from_str("{token: s3cret, tokens: [other]}").unwrap();
        let err = Factory.prepare(&v, "p").err().unwrap();
        assert!(!format!("{err:?}").contains("s3cret"));
        assert_eq!(err[0].path, "p::tokens");
        let v: Value = serde_yaml::from_str("{scheme: Bearer}").unwrap();
        assert!(Factory.prepare(&v, "p").is_err());
        let v: Value = serde_yaml::from_str("{token: [s3cret]}").unwrap();
        let err = Factory.prepare(&v, "p").err().unwrap();
        assert!(!format!("{err:?}").contains("s3cret"), "{err:?}");
    }

    #[test]
    fn missing_file_is_named() {
        let v: Value = serde_yaml::from_str("filename: /nonexistent/token").unwrap();
        let p = Factory.prepare(&v, "p").unwrap();
        let e = p
            .create(&ComponentId::parse("bearertokenauth").unwrap())
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("\"/nonexistent/token\" not found"),
            "{e}"
        );
    }
}
