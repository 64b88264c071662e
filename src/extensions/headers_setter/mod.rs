//! `headers_setter` (client side): sets headers on outgoing requests from static values or from the
//! incoming request's metadata (`from_context`, which needs `include_metadata: true` on the receiver),
//! e.g. to forward a tenant id from the agent to the backend.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{
    ConfigResult, Extension, ExtensionFactory, Host, PreparedExtension, StartError,
};
use crate::config::secret::Secret;
use crate::config::{ComponentId, ConfigError};
use crate::extensions::auth::ClientAuthenticator;
use crate::signal::ClientMetadata;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub headers: Vec<HeaderRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderRule {
    pub key: String,
    #[serde(default = "default_action")]
    pub action: String,
    /// May be a credential (an API key), so never printed.
    #[serde(default)]
    pub value: Option<Secret>,
    #[serde(default)]
    pub from_context: Option<String>,
    #[serde(default)]
    pub default_value: Option<Secret>,
}

fn default_action() -> String {
    "upsert".into()
}

pub struct Factory;

impl ExtensionFactory for Factory {
    fn type_name(&self) -> &'static str {
        "headers_setter"
    }

    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExtension>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if c.headers.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::headers"),
                "must not be empty",
            ));
        }
        for (i, h) in c.headers.iter().enumerate() {
            let p = format!("{path}::headers::{i}");
            if HeaderName::from_bytes(h.key.as_bytes()).is_err() {
                errors.push(ConfigError::new(
                    format!("{p}::key"),
                    format!("{:?} is not a valid header name", h.key),
                ));
            }
            if !["insert", "update", "upsert"].contains(&h.action.to_ascii_lowercase().as_str()) {
                errors.push(ConfigError::new(
                    format!("{p}::action"),
                    format!("unsupported action {:?} (insert, update, upsert)", h.action),
                ));
            }
            if h.value.is_some() == h.from_context.is_some() {
                errors.push(ConfigError::new(
                    &p,
                    "set exactly one of value or from_context",
                ));
            }
            for v in [&h.value, &h.default_value].into_iter().flatten() {
                if HeaderValue::from_str(v.expose()).is_err() {
                    errors.push(ConfigError::new(
                        &p,
                        "the value holds characters not allowed in a header",
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(c))
    }
}

impl PreparedExtension for Config {
    fn create(&self, _id: &ComponentId) -> Result<Arc<dyn Extension>, StartError> {
        Ok(Arc::new(HeadersSetter(Arc::new(self.clone()))))
    }
}

pub struct HeadersSetter(Arc<Config>);

impl ClientAuthenticator for Config {
    fn headers(
        &self,
        metadata: Option<&ClientMetadata>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let mut out = Vec::new();
        for h in &self.headers {
            let Ok(name) = HeaderName::from_bytes(h.key.as_bytes()) else {
                continue;
            };
            let value = match (&h.value, &h.from_context) {
                (Some(v), _) => Some(v.expose().to_string()),
                (None, Some(key)) => metadata
                    .and_then(|m| m.get(key).next().map(str::to_string))
                    .or_else(|| h.default_value.as_ref().map(|d| d.expose().to_string())),
                _ => None,
            };
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                out.push((name, v));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Extension for HeadersSetter {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        Ok(())
    }
    async fn shutdown(&self) {}
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn client_authenticator(&self) -> Option<Arc<dyn ClientAuthenticator>> {
        Some(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_and_from_context() {
        let v: Value = serde_yaml::from_str(
            "headers: [{key: X-Scope-OrgID, from_context: tenant, default_value: none}, {key: X-Static, value: abc}]",
        )
        .unwrap();
        let e = Factory
            .prepare(&v, "p")
            .map_err(|e| format!("{e:?}"))
            .unwrap()
            .create(&ComponentId::parse("headers_setter").unwrap())
            .map_err(|e| e.to_string())
            .unwrap();
        let c = e.client_authenticator().unwrap();
        let md = ClientMetadata {
            entries: vec![("tenant".into(), "acme".into())],
            address: None,
        };
        let h = c.headers(Some(&md)).unwrap();
        assert_eq!(h[0].0.as_str(), "x-scope-orgid");
        assert_eq!(h[0].1, "acme");
        assert_eq!(h[1].1, "abc");
        let h = c.headers(None).unwrap();
        assert_eq!(h[0].1, "none");
    }
}
