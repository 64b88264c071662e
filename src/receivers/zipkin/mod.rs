//! The `zipkin` receiver: `POST /api/v1/spans` (JSON, thrift) and `/api/v2/spans` (JSON, protobuf),
//! gzip/zlib/zstd bodies, translated to OTLP as otelcol's zipkin translator does ([`translate`]).

pub mod model;
pub mod translate;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::State;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{
    ConfigResult, Host, PreparedReceiver, Receiver, ReceiverFactory, StartError,
};
use crate::config::{ComponentId, ConfigError};
use crate::pipeline::AnyConsumer;
use crate::receivers::common::{self, http_status_for, Running, TracesSink};
use crate::signal::{SignalKind, Traces};

#[derive(Debug, Clone, Deserialize)]
pub struct ZipkinReceiverConfig {
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    /// Tag values that look like ints, doubles or bools become typed attributes.
    #[serde(default)]
    pub parse_string_tags: bool,
    #[serde(default = "default_max_body")]
    pub max_request_body_size: u64,
    /// otelcol's other HTTP server keys: accepted, not implemented (each one is a warning).
    #[serde(flatten)]
    pub unimplemented: BTreeMap<String, Value>,
}

/// otelcol's `confighttp.ServerConfig` keys besides `endpoint` and `max_request_body_size`.
const HTTP_SERVER_KEYS: &[&str] = &[
    "tls",
    "cors",
    "auth",
    "include_metadata",
    "response_headers",
    "compression_algorithms",
    "read_timeout",
    "read_header_timeout",
    "write_timeout",
    "idle_timeout",
    "keep_alives_enabled",
    "transport",
    "middlewares",
];

fn default_endpoint() -> String {
    "localhost:9411".into()
}
fn default_max_body() -> u64 {
    20 * 1024 * 1024
}

pub struct Factory;

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        "zipkin"
    }

    fn signals(&self) -> &'static [SignalKind] {
        &[SignalKind::Traces]
    }

    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedReceiver>> {
        let cfg = if cfg.is_null() {
            Value::Mapping(Default::default())
        } else {
            cfg.clone()
        };
        let c: ZipkinReceiverConfig = crate::config::parse(&cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if crate::pipeline::graph::split_host_port(&c.endpoint).is_none() {
            errors.push(ConfigError::new(
                format!("{path}::endpoint"),
                format!("invalid endpoint {:?}: expected host:port", c.endpoint),
            ));
        }
        // Only otelcol's HTTP server keys are accepted (and warned); anything else is unknown.
        for k in c.unimplemented.keys() {
            if !HTTP_SERVER_KEYS.contains(&k.as_str()) {
                errors.push(ConfigError::new(
                    format!("{path}::{k}"),
                    format!(
                        "unknown key {k:?}; accepted keys: endpoint, parse_string_tags, max_request_body_size, {}",
                        HTTP_SERVER_KEYS.join(", ")
                    ),
                ));
            }
        }
        for k in ["tls", "auth"] {
            if c.unimplemented.contains_key(k) {
                errors.push(ConfigError::new(
                    format!("{path}::{k}"),
                    format!("`{k}` is not supported on the zipkin receiver yet (ferrotel); use the otlp receiver for {k}"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(Prepared {
            path: path.to_string(),
            config: c,
        }))
    }
}

struct Prepared {
    path: String,
    config: ZipkinReceiverConfig,
}

impl PreparedReceiver for Prepared {
    fn warnings(&self) -> Vec<String> {
        common::unimplemented_warnings(&self.path, &self.config.unimplemented)
    }

    fn endpoints(&self) -> Vec<String> {
        vec![self.config.endpoint.clone()]
    }

    fn create(
        &self,
        id: &ComponentId,
        consumers: Vec<AnyConsumer>,
        _host: &Host,
    ) -> Result<Box<dyn Receiver>, StartError> {
        let sink = consumers
            .iter()
            .find_map(AnyConsumer::typed::<Traces>)
            .map(|c| Arc::new(TracesSink::new(id.to_string(), c)));
        let Some(sink) = sink else {
            return Err(StartError::new(
                format!("receivers::{id}"),
                "the zipkin receiver only produces traces",
            ));
        };
        Ok(Box::new(ZipkinReceiver {
            id: id.clone(),
            config: self.config.clone(),
            sink,
            running: None,
        }))
    }
}

struct ZipkinReceiver {
    id: ComponentId,
    config: ZipkinReceiverConfig,
    sink: Arc<TracesSink>,
    running: Option<Running>,
}

#[derive(Clone)]
struct HttpState {
    sink: Arc<TracesSink>,
    admission: Arc<crate::pipeline::Admission>,
    limit: usize,
    parse_string_tags: bool,
}

#[async_trait]
impl Receiver for ZipkinReceiver {
    async fn start(&mut self, host: &Host) -> Result<(), StartError> {
        let limit = usize::try_from(self.config.max_request_body_size).unwrap_or(usize::MAX);
        let state = HttpState {
            sink: self.sink.clone(),
            admission: host.admission.clone(),
            limit,
            parse_string_tags: self.config.parse_string_tags,
        };
        let router = axum::Router::new()
            .route("/api/v1/spans", axum::routing::post(v1))
            .route("/api/v2/spans", axum::routing::post(v2))
            .layer(axum::extract::DefaultBodyLimit::max(limit))
            .with_state(state);
        let r = common::serve_http(&self.config.endpoint, router)
            .await
            .map_err(|e| StartError::new(format!("receivers::{}", self.id), e))?;
        tracing::info!(receiver = %self.id, endpoint = %r.local_addr, "Zipkin receiver listening");
        self.running = Some(r);
        Ok(())
    }

    async fn shutdown(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

async fn v1(
    st: State<HttpState>,
    headers: http::HeaderMap,
    body: bytes::Bytes,
) -> axum::response::Response {
    handle(st, headers, body, true).await
}

async fn v2(
    st: State<HttpState>,
    headers: http::HeaderMap,
    body: bytes::Bytes,
) -> axum::response::Response {
    handle(st, headers, body, false).await
}

async fn handle(
    State(st): State<HttpState>,
    headers: http::HeaderMap,
    body: bytes::Bytes,
    is_v1: bool,
) -> axum::response::Response {
    if let Err(e) = st.admission.check() {
        return (http_status_for(&e), e.to_string()).into_response();
    }
    let header = |h: http::HeaderName| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let ct = header(http::header::CONTENT_TYPE);
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let body = match common::decompress(body, &header(http::header::CONTENT_ENCODING), st.limit) {
        Ok(b) => b,
        Err(common::BodyError::TooLarge) => {
            return (http::StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response()
        }
        Err(common::BodyError::Invalid(m)) => {
            return (http::StatusCode::BAD_REQUEST, m).into_response()
        }
    };
    let spans = match (is_v1, ct.as_str()) {
        (true, "application/x-thrift") => model::v1_thrift(&body),
        (true, _) => model::v1_json(&body),
        (false, "application/x-protobuf") => model::v2_proto(&body),
        (false, _) => model::v2_json(&body),
    };
    let spans = match spans {
        Ok(s) => s,
        Err(e) => return (http::StatusCode::BAD_REQUEST, e).into_response(),
    };
    let resources = translate::to_otlp(spans, st.parse_string_tags);
    match st.sink.accept(resources, "http").await {
        Ok(()) => http::StatusCode::ACCEPTED.into_response(),
        Err(e) => (http_status_for(&e), e.to_string()).into_response(),
    }
}
