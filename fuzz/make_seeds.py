"""Writes the seed corpus for the http_body fuzz target: valid OTLP requests for each signal, as
protobuf and JSON, plain and compressed by the harness (see fuzz_targets/http_body.rs for the layout).
Run with the test venv: .venv/bin/python fuzz/make_seeds.py"""
import hashlib
import os

from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

res = resource_pb2.Resource(attributes=[common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="svc"))])
attrs = [
    common_pb2.KeyValue(key="s", value=common_pb2.AnyValue(string_value="v")),
    common_pb2.KeyValue(key="i", value=common_pb2.AnyValue(int_value=-5)),
    common_pb2.KeyValue(key="d", value=common_pb2.AnyValue(double_value=1.5)),
    common_pb2.KeyValue(key="a", value=common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[common_pb2.AnyValue(bool_value=True)]))),
    common_pb2.KeyValue(key="m", value=common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=[common_pb2.KeyValue(key="k", value=common_pb2.AnyValue(bytes_value=b"\x00\x01"))]))),
]
span = trace_pb2.Span(trace_id=bytes(range(16)), span_id=bytes(range(8)), parent_span_id=bytes(range(1, 9)), name="op", kind=2,
                      start_time_unix_nano=1, end_time_unix_nano=2, attributes=attrs,
                      events=[trace_pb2.Span.Event(name="e", time_unix_nano=1)],
                      links=[trace_pb2.Span.Link(trace_id=bytes(16), span_id=bytes(8))],
                      status=trace_pb2.Status(code=2, message="boom"))
traces = trace_service_pb2.ExportTraceServiceRequest(resource_spans=[trace_pb2.ResourceSpans(
    resource=res, scope_spans=[trace_pb2.ScopeSpans(scope=common_pb2.InstrumentationScope(name="sc", version="1"), spans=[span, span])])])
metrics = metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=[metrics_pb2.ResourceMetrics(
    resource=res, scope_metrics=[metrics_pb2.ScopeMetrics(metrics=[
        metrics_pb2.Metric(name="g", gauge=metrics_pb2.Gauge(data_points=[metrics_pb2.NumberDataPoint(as_int=3, attributes=attrs)])),
        metrics_pb2.Metric(name="s", sum=metrics_pb2.Sum(is_monotonic=True, aggregation_temporality=2, data_points=[metrics_pb2.NumberDataPoint(as_double=1.0)])),
        metrics_pb2.Metric(name="h", histogram=metrics_pb2.Histogram(data_points=[metrics_pb2.HistogramDataPoint(count=2, bucket_counts=[1, 1], explicit_bounds=[1.0])])),
        metrics_pb2.Metric(name="e", exponential_histogram=metrics_pb2.ExponentialHistogram(data_points=[metrics_pb2.ExponentialHistogramDataPoint(count=1, scale=2)])),
        metrics_pb2.Metric(name="q", summary=metrics_pb2.Summary(data_points=[metrics_pb2.SummaryDataPoint(count=1, quantile_values=[metrics_pb2.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=1)])])),
    ])])])
logs = logs_service_pb2.ExportLogsServiceRequest(resource_logs=[logs_pb2.ResourceLogs(
    resource=res, scope_logs=[logs_pb2.ScopeLogs(log_records=[logs_pb2.LogRecord(
        time_unix_nano=1, severity_number=9, severity_text="INFO", body=common_pb2.AnyValue(string_value="hello"),
        attributes=attrs, trace_id=bytes(16), span_id=bytes(8))])])])

out = os.path.join(os.path.dirname(__file__), "corpus", "http_body")
os.makedirs(out, exist_ok=True)


def write(data):
    with open(os.path.join(out, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def otlp_json(msg):
    # OTLP/JSON: ids are hex, not base64 as protobuf's JSON mapping has them.
    import json
    d = json.loads(MessageToJson(msg))
    def fix(o):
        if isinstance(o, dict):
            for k, v in list(o.items()):
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                    import base64
                    o[k] = base64.b64decode(v).hex()
                else:
                    fix(v)
        elif isinstance(o, list):
            for x in o:
                fix(x)
    fix(d)
    return json.dumps(d).encode()


for sig, msg in enumerate([traces, metrics, logs]):
    for enc in range(5):  # "", gzip, zstd, deflate, zlib
        for compress in (0, 1) if enc else (0,):
            ctl_pb = sig | (compress << 3) | (enc << 4)
            write(bytes([ctl_pb]) + msg.SerializeToString())
            write(bytes([ctl_pb | 0b100]) + otlp_json(msg))
print("seeds written to", out)
