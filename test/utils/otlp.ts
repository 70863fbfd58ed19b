import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { leftover } from './leftovers';
import { until } from './wait';

/** An attribute value as OTLP/JSON writes it. */
type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values: AnyValue[] };
};

/** A span as a receiver got it, its attributes (and its resource's) made plain. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  links: { traceId: string; spanId: string }[];
  status: { code?: number; message?: string };
  /** The span as sent, for checks that no field anywhere carries a value. */
  raw: string;
}

/** One data point of a metric as a receiver got it (a sum's or gauge's value, or a histogram's counts), its attributes made plain. */
export interface ReceivedPoint {
  metric: string;
  unit?: string;
  kind: 'sum' | 'gauge' | 'histogram';
  isMonotonic?: boolean;
  attributes: Record<string, unknown>;
  value?: number;
  count?: number;
  sum?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
}

interface MetricsRequest {
  resourceMetrics: {
    scopeMetrics: {
      metrics: ({ name: string; unit?: string } & Partial<
        Record<
          'sum' | 'gauge' | 'histogram',
          {
            isMonotonic?: boolean;
            dataPoints: {
              attributes?: { key: string; value: AnyValue }[];
              asDouble?: number;
              asInt?: string | number;
              count?: string | number;
              sum?: number;
              bucketCounts?: (string | number)[];
              explicitBounds?: number[];
            }[];
          }
        >
      >)[];
    }[];
  }[];
}

/** A collector that accepts OTLP/HTTP in JSON at /v1/traces and /v1/metrics, as an OpenTelemetry collector does, and keeps what it got. */
export interface OtlpReceiver {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://127.0.0.1:PORT */
  url: string;
  /** The environment of a gateway process exporting here: this endpoint, OTLP/JSON (what the receiver reads), each batch sent 20 ms after its first span. */
  env: Readonly<Record<'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_PROTOCOL' | 'OTEL_BSP_SCHEDULE_DELAY', string>>;
  spans: ReceivedSpan[];
  /** Every metric data point of every export, in the order received. */
  points: ReceivedPoint[];
  /** Waits until an export has brought data points matching `match`, and returns those of the latest such export. */
  waitForPoints(match: (point: ReceivedPoint) => boolean): Promise<ReceivedPoint[]>;
  /** Every request body received, as sent. */
  bodies: string[];
  /** Every export's path and headers, in the order received. */
  requests: { path: string; headers: IncomingHttpHeaders }[];
  /** Waits until spans matching `match` have arrived, and returns them. */
  waitFor(match: (span: ReceivedSpan) => boolean, count?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

function plain(value: AnyValue | undefined): unknown {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return value.arrayValue.values.map(plain);
  return undefined;
}

function attributes(list: { key: string; value: AnyValue }[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, plain(value)]));
}

interface ExportRequest {
  resourceSpans: {
    resource?: { attributes?: { key: string; value: AnyValue }[] };
    scopeSpans: {
      spans: (Omit<ReceivedSpan, 'attributes' | 'resource' | 'events' | 'raw'> & {
        attributes?: { key: string; value: AnyValue }[];
        events?: { name: string; attributes?: { key: string; value: AnyValue }[] }[];
        links?: { traceId: string; spanId: string }[];
      })[];
    }[];
  }[];
}

/** Starts a receiver on an ephemeral loopback port, closed after the test. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const points: ReceivedPoint[] = [];
  /** Each export's data points, so a wait sees one export's values together. */
  const exports: ReceivedPoint[][] = [];
  const bodies: string[] = [];
  const requests: { path: string; headers: IncomingHttpHeaders }[] = [];
  const arrived = new EventEmitter();
  const server = createServer((request, response) => {
    requests.push({ path: String(request.url), headers: request.headers });
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      if (!String(request.headers['content-type']).startsWith('application/json')) {
        response.writeHead(415).end();
        return;
      }
      if (request.url === '/v1/metrics') {
        bodies.push(body);
        const received: ReceivedPoint[] = [];
        for (const resource of (JSON.parse(body) as MetricsRequest).resourceMetrics) {
          for (const scope of resource.scopeMetrics) {
            for (const metric of scope.metrics) {
              for (const kind of ['sum', 'gauge', 'histogram'] as const) {
                const data = metric[kind];
                if (!data) continue;
                for (const p of data.dataPoints) {
                  received.push({
                    metric: metric.name,
                    unit: metric.unit,
                    kind,
                    isMonotonic: data.isMonotonic,
                    attributes: attributes(p.attributes),
                    value: p.asDouble ?? (p.asInt === undefined ? undefined : Number(p.asInt)),
                    count: p.count === undefined ? undefined : Number(p.count),
                    sum: p.sum,
                    bucketCounts: p.bucketCounts?.map(Number),
                    explicitBounds: p.explicitBounds,
                  });
                }
              }
            }
          }
        }
        points.push(...received);
        exports.push(received);
        response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        arrived.emit('spans');
        return;
      }
      if (request.url !== '/v1/traces') {
        response.writeHead(404).end();
        return;
      }
      bodies.push(body);
      for (const resourceSpans of (JSON.parse(body) as ExportRequest).resourceSpans) {
        const resource = attributes(resourceSpans.resource?.attributes);
        for (const scope of resourceSpans.scopeSpans) {
          for (const span of scope.spans) {
            spans.push({
              ...span,
              parentSpanId: span.parentSpanId || undefined,
              attributes: attributes(span.attributes),
              resource,
              events: (span.events ?? []).map((event) => ({ name: event.name, attributes: attributes(event.attributes) })),
              links: span.links ?? [],
              status: span.status ?? {},
              raw: JSON.stringify(span),
            });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      arrived.emit('spans');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = leftover(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '20' },
    spans,
    points,
    bodies,
    requests,
    async waitForPoints(match) {
      const latest = () => [...exports].reverse().find((received) => received.some(match));
      await until(() => latest() !== undefined, { emitter: arrived, event: 'spans' });
      return latest()!;
    },
    async waitFor(match, count = 1) {
      await until(() => spans.filter(match).length >= count, { emitter: arrived, event: 'spans' });
      return spans.filter(match);
    },
    close,
  };
}

/** A collector that accepts connections and requests and never answers one: what a hung or overloaded collector looks like. */
export interface HangingCollector {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://127.0.0.1:PORT */
  url: string;
  /** The path of every request received so far (`/v1/traces`, `/v1/metrics`). */
  paths: string[];
  /** Emits `request` at each request, once it is in `paths`. */
  arrived: EventEmitter;
}

/** Starts a hanging collector on an ephemeral loopback port; its connections are cut and it is closed after the test. */
export async function startHangingCollector(): Promise<HangingCollector> {
  const paths: string[] = [];
  const arrived = new EventEmitter();
  const server = createServer((request) => {
    paths.push(String(request.url));
    arrived.emit('request');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  leftover(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths, arrived };
}
