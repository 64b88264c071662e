//! Authentication shared by receivers and exporters: `auth: {authenticator: <extension id>}` names an
//! extension that checks incoming requests (server side) or adds credentials to outgoing ones (client
//! side). Failures never carry the credential itself.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::component::{Host, StartError};
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
}

fn find<'a>(
    host: &'a Host,
    auth: &AuthSettings,
    component: &str,
) -> Result<&'a Arc<dyn crate::component::Extension>, StartError> {
    let id = ComponentId::parse(&auth.authenticator)
        .map_err(|e| StartError::new(format!("{component}::auth::authenticator"), e))?;
    host.extension(&id).ok_or_else(|| {
        StartError::new(
            format!("{component}::auth::authenticator"),
            format!(
                "extension {id} is not enabled; configure it under extensions and list it in service::extensions"
            ),
        )
    })
}

/// The server authenticator named by `auth`, looked up among the running extensions.
pub fn server(
    host: &Host,
    auth: &AuthSettings,
    component: &str,
) -> Result<Arc<dyn ServerAuthenticator>, StartError> {
    find(host, auth, component)?
        .server_authenticator()
        .ok_or_else(|| {
            StartError::new(
                format!("{component}::auth::authenticator"),
                format!(
                    "extension {} cannot authenticate incoming requests",
                    auth.authenticator
                ),
            )
        })
}

/// The client authenticator named by `auth`.
pub fn client(
    host: &Host,
    auth: &AuthSettings,
    component: &str,
) -> Result<Arc<dyn ClientAuthenticator>, StartError> {
    find(host, auth, component)?
        .client_authenticator()
        .ok_or_else(|| {
            StartError::new(
                format!("{component}::auth::authenticator"),
                format!(
                    "extension {} cannot add credentials to outgoing requests",
                    auth.authenticator
                ),
            )
        })
}

/// Compares secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A file re-read when it changes (polled once a second), for credentials kept on disk.
pub struct WatchedFile {
    pub path: String,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl WatchedFile {
    pub fn new(path: String) -> Self {
        WatchedFile {
            path,
            task: std::sync::Mutex::new(None),
        }
    }

    /// Calls `on_change` with the new contents whenever they change, until `stop`.
    pub fn start(&self, on_change: impl Fn(Vec<u8>) + Send + 'static) {
        let path = self.path.clone();
        let task = tokio::spawn(async move {
            let mut last = std::fs::read(&path).ok();
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                let now = tokio::fs::read(&path).await.ok();
                if now.is_some() && now != last {
                    if let Some(b) = &now {
                        on_change(b.clone());
                    }
                    last = now;
                }
            }
        });
        if let Ok(mut t) = self.task.lock() {
            if let Some(old) = t.replace(task) {
                old.abort();
            }
        }
    }

    pub fn stop(&self) {
        if let Ok(mut t) = self.task.lock() {
            if let Some(t) = t.take() {
                t.abort();
            }
        }
    }
}
