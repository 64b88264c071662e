//! A server's TLS config that is re-read from disk every `reload_interval` when its files change,
//! so rotated certificates are used by new connections without a restart. Connections already open
//! keep the certificate they were accepted with.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::ServerTls;

pub struct ReloadingServerTls {
    current: Arc<RwLock<Arc<rustls::ServerConfig>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ReloadingServerTls {
    /// Loads the config (errors name the file and the problem) and, if a reload interval applies,
    /// starts watching the files. `who` names the server in logs.
    pub fn start(
        cfg: &ServerTls,
        alpn: &[&[u8]],
        who: String,
    ) -> Result<ReloadingServerTls, String> {
        if cfg.ca_file.is_some() && cfg.client_ca_file.is_none() {
            tracing::warn!(server = %who, "tls::ca_file on a server does not require client certificates; set tls::client_ca_file for mutual TLS");
        }
        if cfg
            .min_version
            .as_deref()
            .is_some_and(|v| v == "1.0" || v == "1.1")
        {
            tracing::warn!(server = %who, "TLS 1.0 and 1.1 are not supported; the minimum is TLS 1.2");
        }
        let config = cfg.load(alpn)?;
        let current = Arc::new(RwLock::new(config));
        let interval = cfg
            .reload_interval
            .or_else(|| cfg.client_ca_file_reload.then_some(Duration::from_secs(10)));
        let task = interval.and_then(|every| {
            let cfg = cfg.clone();
            let alpn: Vec<Vec<u8>> = alpn.iter().map(|a| a.to_vec()).collect();
            let current = current.clone();
            let files = cfg.watched_files().into_iter().map(Into::into).collect();
            crate::watch::spawn(files, every, move |_| {
                let refs: Vec<&[u8]> = alpn.iter().map(|a| a.as_slice()).collect();
                match cfg.load(&refs) {
                    Ok(c) => {
                        if let Ok(mut w) = current.write() {
                            *w = c;
                        }
                        tracing::info!(server = %who, "TLS certificates reloaded");
                        crate::watch::Outcome::Applied
                    }
                    Err(e) => {
                        // Files may be mid-rotation (certificate written, key not yet): keep the
                        // old config and try again next time.
                        tracing::warn!(server = %who, error = %e, "TLS reload failed; keeping the previous certificates");
                        crate::watch::Outcome::Retry
                    }
                }
            })
        });
        Ok(ReloadingServerTls { current, task })
    }

    /// An acceptor with the config in force now.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let cfg = match self.current.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        };
        tokio_rustls::TlsAcceptor::from(cfg)
    }
}

impl Drop for ReloadingServerTls {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
