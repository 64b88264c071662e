//! The `health_check` extension: an HTTP endpoint that answers 200 while every pipeline runs and 503
//! while the collector is starting or shutting down, with otelcol's JSON body (or `response_body`).

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;
use serde_yaml::Value;
use tokio::sync::oneshot;

use crate::component::{
    ConfigResult, Extension, ExtensionFactory, Host, PreparedExtension, StartError,
};
use crate::config::{ComponentId, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default)]
    pub response_body: Option<ResponseBody>,
    /// Deprecated in otelcol and without effect there; accepted so existing files load.
    #[serde(default)]
    pub check_collector_pipeline: Option<Value>,
    /// otelcol's confighttp server TLS: accepted, not served (a warning; the endpoint stays plain HTTP).
    #[serde(default)]
    pub tls: Option<Value>,
    #[serde(skip)]
    pub path_key: String,
}

/// Fixed bodies in place of the JSON status.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseBody {
    #[serde(default)]
    pub healthy: String,
    #[serde(default)]
    pub unhealthy: String,
}

fn default_endpoint() -> String {
    "localhost:13133".into()
}
fn default_path() -> String {
    "/".into()
}

pub struct Factory;

impl ExtensionFactory for Factory {
    fn type_name(&self) -> &'static str {
        "health_check"
    }

    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExtension>> {
        let mut c: HealthCheckConfig = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if crate::net::split_host_port(&c.endpoint).is_none() {
            errors.push(ConfigError::new(
                format!("{path}::endpoint"),
                format!("invalid endpoint {:?}: expected host:port", c.endpoint),
            ));
        }
        // As otelcol's Validate: "path must start with /".
        if !c.path.starts_with('/') {
            errors.push(ConfigError::new(
                format!("{path}::path"),
                format!("path must start with /, got {:?}", c.path),
            ));
        }
        c.path_key = path.to_string();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(Prepared(c)))
    }
}

struct Prepared(HealthCheckConfig);

impl PreparedExtension for Prepared {
    fn warnings(&self) -> Vec<String> {
        match &self.0.tls {
            Some(t) if !t.is_null() => vec![format!(
                "{}::tls: not supported by ferrotel's health_check; it serves plain HTTP",
                self.0.path_key
            )],
            _ => vec![],
        }
    }
    fn endpoints(&self) -> Vec<String> {
        vec![self.0.endpoint.clone()]
    }

    fn create(&self, id: &ComponentId) -> Result<Arc<dyn Extension>, StartError> {
        Ok(Arc::new(HealthCheck {
            id: id.to_string(),
            cfg: self.0.clone(),
            state: Arc::new(State::default()),
            server: Mutex::new(None),
        }))
    }
}

#[derive(Default)]
struct State {
    ready: AtomicBool,
    /// When the pipelines last became ready (wall clock for `upSince`, monotonic for `uptime`).
    since: Mutex<Option<(SystemTime, Instant)>>,
}

pub struct HealthCheck {
    id: String,
    cfg: HealthCheckConfig,
    state: Arc<State>,
    server: Mutex<Option<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>>,
}

impl HealthCheck {
    /// The status code and body the endpoint answers with now.
    fn answer(cfg: &HealthCheckConfig, state: &State) -> (http::StatusCode, &'static str, String) {
        let ready = state.ready.load(Ordering::Acquire);
        if let Some(b) = &cfg.response_body {
            let body = if ready { &b.healthy } else { &b.unhealthy };
            let code = if ready {
                http::StatusCode::OK
            } else {
                http::StatusCode::SERVICE_UNAVAILABLE
            };
            return (code, "text/plain; charset=utf-8", body.clone());
        }
        let since = *state.since.lock().unwrap_or_else(|e| e.into_inner());
        match (ready, since) {
            (true, Some((wall, mono))) => (
                http::StatusCode::OK,
                "application/json",
                serde_json::json!({
                    "status": "Server available",
                    "upSince": rfc3339(wall),
                    "uptime": go_duration(mono.elapsed()),
                })
                .to_string(),
            ),
            _ => (
                http::StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                serde_json::json!({
                    "status": "Server not available",
                    "upSince": "0001-01-01T00:00:00Z",
                    "uptime": "",
                })
                .to_string(),
            ),
        }
    }
}

#[async_trait]
impl Extension for HealthCheck {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        let addr = crate::net::resolve_bind(&self.cfg.endpoint)
            .await
            .map_err(|e| StartError::new(&self.id, e))?;
        // Through the shared registry, so a reload hands the port over instead of re-binding it.
        let listener = crate::pipeline::listeners::bind(addr)
            .await
            .map(SharedListener)
            .map_err(|e| StartError::new(&self.id, format!("cannot listen on {addr}: {e}")))?;
        let cfg = self.cfg.clone();
        let state = self.state.clone();
        let app = axum::Router::new().fallback(move |uri: http::Uri| {
            let (cfg, state) = (cfg.clone(), state.clone());
            async move {
                let path = uri.path();
                if path != cfg.path && path.trim_end_matches('/') != cfg.path.trim_end_matches('/')
                {
                    return (
                        http::StatusCode::NOT_FOUND,
                        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        "404 page not found\n".to_string(),
                    );
                }
                let (code, ctype, body) = HealthCheck::answer(&cfg, &state);
                (code, [(http::header::CONTENT_TYPE, ctype)], body)
            }
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let id = self.id.clone();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::error!(extension = %id, error = %e, "health check endpoint failed");
            }
        });
        tracing::info!(extension = %self.id, address = %addr, path = %self.cfg.path, "health check endpoint listening");
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) = Some((stop, task));
        Ok(())
    }

    async fn shutdown(&self) {
        let server = self.server.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((stop, task)) = server {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn set_ready(&self, ready: bool) {
        if ready {
            *self.state.since.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((SystemTime::now(), Instant::now()));
        }
        self.state.ready.store(ready, Ordering::Release);
    }
}

/// A socket possibly shared with the service being replaced by a reload.
struct SharedListener(std::sync::Arc<tokio::net::TcpListener>);

impl axum::serve::Listener for SharedListener {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(c) => return c,
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// `2024-05-01T12:34:56.789Z`.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Go's `time.Duration` string: `1h2m3.5s`, `12.25s`, `350ms`.
fn go_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let frac = d.subsec_nanos();
    let s = secs % 60;
    let sec_part = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:09}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    match (secs / 3600, (secs / 60) % 60) {
        (0, 0) => sec_part,
        (0, m) => format!("{m}m{sec_part}"),
        (h, m) => format!("{h}h{m}m{sec_part}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(yaml: &str) -> HealthCheckConfig {
        crate::config::parse(
            &serde_yaml::from_str(yaml).unwrap(),
            "extensions::health_check",
        )
        .unwrap()
    }

    #[test]
    fn defaults_and_errors() {
        let c = cfg("{}");
        assert_eq!(
            (c.endpoint.as_str(), c.path.as_str()),
            ("localhost:13133", "/")
        );
        let e = Factory
            .prepare(
                &serde_yaml::from_str("endpoint: nowhere").unwrap(),
                "extensions::health_check",
            )
            .err()
            .unwrap();
        assert_eq!(e[0].path, "extensions::health_check::endpoint");
        let e = Factory
            .prepare(
                &serde_yaml::from_str("port: 1").unwrap(),
                "extensions::health_check",
            )
            .err()
            .unwrap();
        assert_eq!(e[0].path, "extensions::health_check::port");
    }

    #[test]
    fn answers_follow_readiness() {
        let c = cfg("{}");
        let st = State::default();
        let (code, _, body) = HealthCheck::answer(&c, &st);
        assert_eq!(code, 503);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "Server not available");
        st.ready.store(true, Ordering::Release);
        *st.since.lock().unwrap() = Some((SystemTime::now(), Instant::now()));
        let (code, _, body) = HealthCheck::answer(&c, &st);
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "Server available");
        assert!(v["upSince"].as_str().unwrap().ends_with('Z'));
        let c = cfg("response_body: {healthy: up, unhealthy: down}");
        assert_eq!(HealthCheck::answer(&c, &st).2, "up");
        st.ready.store(false, Ordering::Release);
        assert_eq!(HealthCheck::answer(&c, &st).2, "down");
    }

    #[test]
    fn time_formats() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.000000005Z");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(go_duration(Duration::from_millis(350)), "350ms");
        assert_eq!(go_duration(Duration::from_millis(12_250)), "12.25s");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
    }
}
