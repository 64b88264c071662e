"""Sends a known number of spans, metric points and log records to ferrotel with the OpenTelemetry
Python SDK over OTLP/gRPC, pointed at it only through OTEL_EXPORTER_OTLP_ENDPOINT (as an application
next to an agent would be). Prints the counts it sent as JSON.

Usage: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 ops_send.py RUN_ID
"""
import json
import logging
import sys

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

SPANS, LOG_RECORDS = 25, 10
run = sys.argv[1] if len(sys.argv) > 1 else "run"
resource = Resource.create({"service.name": "ops-e2e", "ops.run": run})

traces = TracerProvider(resource=resource)
traces.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = traces.get_tracer("ops-e2e")
for i in range(SPANS):
    with tracer.start_as_current_span(f"op-{i}", attributes={"i": i}):
        pass
traces.shutdown()  # flushes

# One export only, at shutdown: the interval is far longer than the run.
reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=3_600_000)
meters = MeterProvider(resource=resource, metric_readers=[reader])
meter = meters.get_meter("ops-e2e")
counter = meter.create_counter("ops.requests")
for route in ["/a", "/b", "/c", "/d"]:
    counter.add(3, {"route": route})
hist = meter.create_histogram("ops.latency")
for status in ["ok", "error"]:
    hist.record(12.5, {"status": status})
meters.shutdown()
METRIC_POINTS = 4 + 2

logs = LoggerProvider(resource=resource)
logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
log = logging.getLogger("ops-e2e")
log.propagate = False
log.setLevel(logging.INFO)
log.addHandler(LoggingHandler(logger_provider=logs))
for i in range(LOG_RECORDS):
    log.info("record %d", i)
logs.shutdown()

print(json.dumps({"spans": SPANS, "metric_points": METRIC_POINTS, "log_records": LOG_RECORDS}))
