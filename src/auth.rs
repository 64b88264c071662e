//! The authentication contracts of the component model: `auth: {authenticator: <extension id>}` on a
//! receiver or exporter, and the traits an extension implements to check incoming requests or to add
//! outgoing credentials. Looking an authenticator up among running extensions is in
//! [`crate::extensions::auth`].

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::config::{ComponentId, ConfigError};
use crate::signal::ClientMetadata;

/// `auth:` on a receiver protocol or an exporter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub authenticator: String,
}

impl AuthSettings {
    pub fn validate(&self, path: &str, errors: &mut Vec<ConfigError>) {
        if let Err(e) = ComponentId::parse(&self.authenticator) {
            errors.push(ConfigError::new(format!("{path}::authenticator"), e));
        }
    }
}

/// Checks an incoming request's headers (HTTP headers or gRPC metadata) before its body is read.
/// Async so that a slow check (bcrypt) runs off the runtime's worker threads.
#[async_trait::async_trait]
pub trait ServerAuthenticator: Send + Sync {
    /// `Err` holds a reason for debug logs; it must not contain the presented credential.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<(), String>;
}

/// Adds credentials to an outgoing request. `metadata` is the client metadata of the data being sent
/// (with `include_metadata` on the receiver), for authenticators that forward incoming headers.
pub trait ClientAuthenticator: Send + Sync {
    fn headers(
        &self,
        metadata: Option<&ClientMetadata>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String>;

    /// Applies this authenticator to an outgoing request's `headers`, which already hold the
    /// exporter's own `headers:`. By default every header of [`ClientAuthenticator::headers`] is set,
    /// replacing one of the same name; `headers_setter` applies its actions (insert, update, upsert,
    /// delete) instead.
    fn apply(
        &self,
        headers: &mut HeaderMap,
        metadata: Option<&ClientMetadata>,
    ) -> Result<(), String> {
        for (k, v) in self.headers(metadata)? {
            headers.insert(k, v);
        }
        Ok(())
    }
}
