"""Sends one known set of traces, metrics and logs to ferrotel with the OpenTelemetry Python SDK.

Usage: send.py grpc|http ENDPOINT [gzip|none] [--ca CA_FILE]
"""
import logging
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

proto, endpoint = sys.argv[1], sys.argv[2]
compression = sys.argv[3] if len(sys.argv) > 3 else "none"
ca = sys.argv[sys.argv.index("--ca") + 1] if "--ca" in sys.argv else None

if proto == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression

    comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
    kw = dict(endpoint=endpoint, compression=comp)
    if ca:
        from grpc import ssl_channel_credentials

        kw["credentials"] = ssl_channel_credentials(open(ca, "rb").read())
    else:
        kw["insecure"] = True
    span_exp, metric_exp, log_exp = OTLPSpanExporter(**kw), OTLPMetricExporter(**kw), OTLPLogExporter(**kw)
else:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http import Compression

    comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
    extra = {"certificate_file": ca} if ca else {}
    span_exp = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", compression=comp, **extra)
    metric_exp = OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", compression=comp, **extra)
    log_exp = OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", compression=comp, **extra)

resource = Resource.create({"service.name": "python-sender", "test.run": "sdk"})

traces = TracerProvider(resource=resource)
traces.add_span_processor(SimpleSpanProcessor(span_exp))
tracer = traces.get_tracer("py-scope", "1.2.3")
with tracer.start_as_current_span(
    "py-parent", kind=SpanKind.SERVER, attributes={"str": "v", "int": 42, "float": 1.5, "bool": True, "list": ["a", "b"]}
) as parent:
    parent.add_event("py-event", {"ev.attr": "x"})
    with tracer.start_as_current_span("py-child"):
        pass
    parent.set_status(Status(StatusCode.ERROR, "boom"))
traces.force_flush()
traces.shutdown()

reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=60000)
meters = MeterProvider(resource=resource, metric_readers=[reader])
meter = meters.get_meter("py-scope", "1.2.3")
meter.create_counter("py.counter").add(5, {"k": "v"})
meter.create_histogram("py.hist").record(3)
meters.force_flush()
meters.shutdown()

logs = LoggerProvider(resource=resource)
logs.add_log_record_processor(SimpleLogRecordProcessor(log_exp))
log = logging.getLogger("py-scope")
log.propagate = False
log.addHandler(LoggingHandler(logger_provider=logs))
log.warning("hello from python", extra={"log.attr": 7})
logs.force_flush()
logs.shutdown()
print("sent")
