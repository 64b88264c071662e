//! Authentication shared by receivers and exporters: `auth: {authenticator: <extension id>}` names an
//! extension that checks incoming requests (server side) or adds credentials to outgoing ones (client
//! side). Failures never carry the credential itself.

use std::sync::Arc;

use crate::component::{Host, StartError};
use crate::config::ComponentId;

pub use crate::auth::{AuthSettings, ClientAuthenticator, ServerAuthenticator};

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

    /// Calls `on_change` with the new contents whenever they change, until `stop`. A file that
    /// cannot be read keeps what was last read.
    pub fn start(&self, on_change: impl Fn(Vec<u8>) + Send + Sync + 'static) {
        let task = crate::watch::spawn(
            vec![self.path.clone().into()],
            std::time::Duration::from_secs(1),
            move |contents| match contents.first() {
                Some(Some(b)) => {
                    on_change(b.clone());
                    crate::watch::Outcome::Applied
                }
                _ => crate::watch::Outcome::Retry,
            },
        );
        if let Ok(mut t) = self.task.lock() {
            if let Some(old) = std::mem::replace(&mut *t, task) {
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
