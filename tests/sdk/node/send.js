// Sends one known set of traces, metrics and logs to an OTLP/HTTP JSON endpoint with the OpenTelemetry
// JS SDK's exporters. Usage: node send.js http://127.0.0.1:4318 [gzip|none]
'use strict';
const { SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { TracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace');
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');

const base = process.argv[2];
const compression = process.argv[3] === 'gzip' ? 'gzip' : 'none';
const resource = resourceFromAttributes({ 'service.name': 'node-sender', 'test.run': 'sdk' });

async function main() {
  const traces = new TracerProvider({
    resource,
    spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter({ url: `${base}/v1/traces`, compression }) })],
  });
  const tracer = traces.getTracer('node-scope', '1.2.3');
  const parent = tracer.startSpan('node-parent', { kind: SpanKind.SERVER, attributes: { 'str': 'v', 'int': 42, 'float': 1.5, 'bool': true, 'list': ['a', 'b'] } });
  parent.addEvent('node-event', { 'ev.attr': 'x' });
  parent.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
  parent.end();
  await traces.forceFlush();
  await traces.shutdown();

  const metricExporter = new OTLPMetricExporter({ url: `${base}/v1/metrics`, compression });
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60000 });
  const meters = new MeterProvider({ resource, readers: [reader] });
  const meter = meters.getMeter('node-scope', '1.2.3');
  meter.createCounter('node.counter').add(5, { 'k': 'v' });
  meter.createHistogram('node.hist').record(3);
  await meters.forceFlush();
  await meters.shutdown();

  const logs = new LoggerProvider({
    resource,
    processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${base}/v1/logs`, compression }) })],
  });
  logs.getLogger('node-scope', '1.2.3').emit({ body: 'hello from node', severityNumber: 13, severityText: 'WARN', attributes: { 'log.attr': 7 } });
  await logs.forceFlush();
  await logs.shutdown();
}

main().then(() => console.log('sent'), (e) => { console.error(e); process.exit(1); });
