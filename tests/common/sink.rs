//! A recording OTLP destination: gRPC and HTTP servers that decode every request with the generated
//! OTLP types and keep it, and answer as the test steers (accept, fail retryably, fail permanently).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;

/// How the sink answers.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkMode {
    Accept,
    /// gRPC UNAVAILABLE / HTTP 503, with `Retry-After` seconds on HTTP when given.
    Unavailable {
        retry_after: Option<u64>,
    },
    /// gRPC INVALID_ARGUMENT / HTTP 400: a permanent error.
    BadRequest,
    /// HTTP `status` (429 or 503) with `Retry-After: <retry_after>` verbatim (any string, valid or
    /// not); gRPC UNAVAILABLE.
    Throttle {
        status: u16,
        retry_after: String,
    },
    /// Records the data and answers success with an OTLP partial success rejecting `rejected` items.
    PartialSuccess {
        rejected: i64,
    },
}

#[derive(Default)]
pub struct Recorded {
    pub traces: Vec<ResourceSpans>,
    pub metrics: Vec<ResourceMetrics>,
    pub logs: Vec<ResourceLogs>,
    /// Headers (lower-case name, value) of every request, in arrival order.
    pub headers: Vec<Vec<(String, String)>>,
    /// When each request arrived, and the mode it was answered with.
    pub attempts: Vec<(Instant, SinkMode)>,
}

#[derive(Clone)]
pub struct Sink {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub state: Arc<Mutex<Recorded>>,
    mode: Arc<Mutex<SinkMode>>,
}

impl Sink {
    /// Starts both servers on ephemeral ports, on `rt` (the test's runtime).
    pub fn start(rt: &tokio::runtime::Runtime) -> Sink {
        rt.block_on(Self::start_async())
    }

    pub async fn start_async() -> Sink {
        let state = Arc::new(Mutex::new(Recorded::default()));
        let mode = Arc::new(Mutex::new(SinkMode::Accept));
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Sink {
            grpc_addr: grpc.local_addr().unwrap(),
            http_addr: http.local_addr().unwrap(),
            state,
            mode,
        };
        let svc = GrpcSvc(sink.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(
                    TraceServiceServer::new(svc.clone())
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                        .accept_compressed(tonic::codec::CompressionEncoding::Zstd),
                )
                .add_service(
                    MetricsServiceServer::new(svc.clone())
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                        .accept_compressed(tonic::codec::CompressionEncoding::Zstd),
                )
                .add_service(
                    LogsServiceServer::new(svc)
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                        .accept_compressed(tonic::codec::CompressionEncoding::Zstd),
                )
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(grpc)),
        );
        let s2 = sink.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = http.accept().await else {
                    continue;
                };
                let s = s2.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let s = s.clone();
                        async move { Ok::<_, std::convert::Infallible>(s.handle_http(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        sink
    }

    pub fn set_mode(&self, m: SinkMode) {
        *self.mode.lock().unwrap() = m;
    }

    pub fn grpc_endpoint(&self) -> String {
        self.grpc_addr.to_string()
    }

    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    pub fn span_count(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .traces
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum()
    }

    /// The name of every span received, in arrival order (duplicates included).
    pub fn span_names(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .traces
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.name.clone())
            .collect()
    }

    /// How often each span name was received: tests name spans by sequence number, so a missing
    /// name is a lost span and a count above 1 a duplicate.
    pub fn received(&self) -> std::collections::BTreeMap<String, usize> {
        let mut m = std::collections::BTreeMap::new();
        for name in self.span_names() {
            *m.entry(name).or_insert(0) += 1;
        }
        m
    }

    pub fn log_count(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum()
    }

    pub fn metric_point_count(&self) -> usize {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        self.state
            .lock()
            .unwrap()
            .metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| match &m.data {
                Some(Data::Gauge(g)) => g.data_points.len(),
                Some(Data::Sum(g)) => g.data_points.len(),
                Some(Data::Histogram(g)) => g.data_points.len(),
                Some(Data::ExponentialHistogram(g)) => g.data_points.len(),
                Some(Data::Summary(g)) => g.data_points.len(),
                None => 0,
            })
            .sum()
    }

    fn answer(&self, headers: Vec<(String, String)>) -> SinkMode {
        let m = self.mode.lock().unwrap().clone();
        let mut st = self.state.lock().unwrap();
        st.headers.push(headers);
        st.attempts.push((Instant::now(), m.clone()));
        m
    }

    async fn handle_http(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let path = req.uri().path().to_string();
        let json = headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("application/json"));
        let enc = headers
            .iter()
            .find(|(k, _)| k == "content-encoding")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body: Vec<u8> = match enc.as_str() {
            "gzip" => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
                    .unwrap();
                out
            }
            "zstd" => zstd::stream::decode_all(&body[..]).unwrap(),
            "deflate" => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::ZlibDecoder::new(&body[..]),
                    &mut out,
                )
                .unwrap();
                out
            }
            _ => body.to_vec(),
        };
        let mut partial = None;
        match self.answer(headers) {
            SinkMode::Accept => {}
            SinkMode::Unavailable { retry_after } => {
                let mut b = hyper::Response::builder().status(503);
                if let Some(s) = retry_after {
                    b = b.header("retry-after", s.to_string());
                }
                return b
                    .body(Full::new(Bytes::from_static(b"unavailable")))
                    .unwrap();
            }
            SinkMode::BadRequest => {
                return hyper::Response::builder()
                    .status(400)
                    .body(Full::new(Bytes::from_static(b"bad request")))
                    .unwrap()
            }
            SinkMode::Throttle {
                status,
                retry_after,
            } => {
                return hyper::Response::builder()
                    .status(status)
                    .header("retry-after", retry_after)
                    .body(Full::new(Bytes::from_static(b"throttled")))
                    .unwrap()
            }
            SinkMode::PartialSuccess { rejected } => partial = Some(rejected),
        }
        let mut st = self.state.lock().unwrap();
        macro_rules! decode {
            ($t:ty) => {
                if json {
                    serde_json::from_slice::<$t>(&body).expect("sink: bad JSON")
                } else {
                    <$t>::decode(&body[..]).expect("sink: bad protobuf")
                }
            };
        }
        match path.as_str() {
            "/v1/traces" => st
                .traces
                .extend(decode!(ExportTraceServiceRequest).resource_spans),
            "/v1/metrics" => st
                .metrics
                .extend(decode!(ExportMetricsServiceRequest).resource_metrics),
            "/v1/logs" => st
                .logs
                .extend(decode!(ExportLogsServiceRequest).resource_logs),
            _ => {
                return hyper::Response::builder()
                    .status(404)
                    .body(Full::new(Bytes::new()))
                    .unwrap()
            }
        }
        let ct = if json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        let body = match (partial, json) {
            (None, true) => Bytes::from_static(b"{}"),
            (None, false) => Bytes::new(),
            (Some(n), _) => {
                macro_rules! resp {
                    ($t:ident, $ps:ident, $field:ident) => {{
                        let r = $t {
                            partial_success: Some($ps {
                                $field: n,
                                error_message: "sink rejects some".into(),
                            }),
                        };
                        if json {
                            Bytes::from(serde_json::to_vec(&r).unwrap())
                        } else {
                            Bytes::from(r.encode_to_vec())
                        }
                    }};
                }
                use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
                use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsPartialSuccess;
                use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
                match path.as_str() {
                    "/v1/traces" => resp!(
                        ExportTraceServiceResponse,
                        ExportTracePartialSuccess,
                        rejected_spans
                    ),
                    "/v1/metrics" => resp!(
                        ExportMetricsServiceResponse,
                        ExportMetricsPartialSuccess,
                        rejected_data_points
                    ),
                    _ => resp!(
                        ExportLogsServiceResponse,
                        ExportLogsPartialSuccess,
                        rejected_log_records
                    ),
                }
            }
        };
        hyper::Response::builder()
            .status(200)
            .header("content-type", ct)
            .body(Full::new(body))
            .unwrap()
    }

    fn grpc_answer(&self, md: &tonic::metadata::MetadataMap) -> Result<(), tonic::Status> {
        let headers = md
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        match self.answer(headers) {
            SinkMode::Accept => Ok(()),
            SinkMode::Unavailable { .. } => Err(tonic::Status::unavailable("sink unavailable")),
            SinkMode::BadRequest => Err(tonic::Status::invalid_argument("sink refuses")),
            SinkMode::Throttle { .. } => Err(tonic::Status::unavailable("sink throttles")),
            // gRPC partial success is not modelled here: recorded and accepted.
            SinkMode::PartialSuccess { .. } => Ok(()),
        }
    }
}

#[derive(Clone)]
struct GrpcSvc(Sink);

#[tonic::async_trait]
impl TraceService for GrpcSvc {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.grpc_answer(r.metadata())?;
        self.0
            .state
            .lock()
            .unwrap()
            .traces
            .extend(r.into_inner().resource_spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcSvc {
    async fn export(
        &self,
        r: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.grpc_answer(r.metadata())?;
        self.0
            .state
            .lock()
            .unwrap()
            .metrics
            .extend(r.into_inner().resource_metrics);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for GrpcSvc {
    async fn export(
        &self,
        r: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.0.grpc_answer(r.metadata())?;
        self.0
            .state
            .lock()
            .unwrap()
            .logs
            .extend(r.into_inner().resource_logs);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}
