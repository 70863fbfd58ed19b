import { seededJobId } from '../src/emulator/seed';
import { startOtlpReceiver, type ReceivedPoint } from './utils/otlp';
import { startGatewayProcess } from './utils/process';

const counted = (n: number) =>
  `query CountedJob { idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', n)}") { status } }`;
/** Job ids are 32 hex digits: this one names no job. */
const missing = `query CountedJob { idMappingJob(workflowName: "customer-id-map", jobId: "${'0'.repeat(32)}") { status } }`;

describe('metrics over OTLP/HTTP', () => {
  test('the receiver gets the operation duration histogram and the error counter, by operation, with the counts of the queries sent', async () => {
    const receiver = await startOtlpReceiver();
    const gateway = await startGatewayProcess({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      ER_RESPONSE_CACHE_MB: '0',
    });
    const post = async (query: string) =>
      (await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query }),
      }).then((res) => res.json())) as { errors?: { extensions: { code: string } }[] };
    expect((await post(counted(1))).errors).toBeUndefined();
    expect((await post(counted(2))).errors).toBeUndefined();
    expect((await post(missing)).errors?.[0].extensions.code).toBe('NOT_FOUND');

    const ofQuery = (point: ReceivedPoint) => point.attributes.type === 'query' && point.attributes.name === 'CountedJob';
    const isDuration = (point: ReceivedPoint) => point.metric === 'er_gateway_operation_duration_seconds' && ofQuery(point);
    const latest = await receiver.waitForPoints((point) => isDuration(point) && point.count === 3);
    const duration = latest.find(isDuration)!;
    expect(duration).toMatchObject({ kind: 'histogram', unit: 's', count: 3 });
    // The buckets /metrics has, counted per bucket: they add up to the count.
    expect(duration.explicitBounds).toEqual([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
    expect(duration.bucketCounts).toHaveLength(15);
    expect(duration.bucketCounts!.reduce((a, b) => a + b, 0)).toBe(3);
    expect(duration.sum).toBeGreaterThan(0);
    const errors = latest.filter((point) => point.metric === 'er_gateway_operation_errors_total' && ofQuery(point));
    expect(errors).toEqual([
      expect.objectContaining({
        kind: 'sum',
        isMonotonic: true,
        value: 1,
        attributes: { type: 'query', name: 'CountedJob', code: 'NOT_FOUND' },
      }),
    ]);
  });

  test('at shutdown the metrics are exported once more, so the last interval is not lost', async () => {
    const receiver = await startOtlpReceiver();
    const gateway = await startGatewayProcess({
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.url}/v1/metrics`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // Far longer than the test: only the shutdown's export can bring the count.
      OTEL_METRIC_EXPORT_INTERVAL: '3600000',
      ER_RESPONSE_CACHE_MB: '0',
    });
    await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: counted(3) }),
    });
    expect(receiver.points).toEqual([]);
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    const points = await receiver.waitForPoints((point) => point.metric === 'er_gateway_operation_duration_seconds');
    expect(
      points.find((point) => point.metric === 'er_gateway_operation_duration_seconds' && point.attributes.name === 'CountedJob')?.count,
    ).toBe(1);
    // Only the metrics endpoint was set: tracing stayed off.
    expect(receiver.spans).toEqual([]);
  });

  test("OTEL_EXPORTER_OTLP_METRICS_HEADERS replaces the general headers for the metrics alone: a metrics collector of its own never gets the traces' key", async () => {
    const traces = await startOtlpReceiver();
    const metrics = await startOtlpReceiver();
    const gateway = await startGatewayProcess({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${traces.url}/v1/traces`,
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${metrics.url}/v1/metrics`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=traces-key',
      OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'x-metrics-token=metrics%20token',
      OTEL_BSP_SCHEDULE_DELAY: '20',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
    });
    const traceId = 'ab'.repeat(16);
    await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-${'cd'.repeat(8)}-01` },
      body: JSON.stringify({ query: counted(4) }),
    });
    await traces.waitFor((span) => span.traceId === traceId);
    await metrics.waitForPoints((point) => point.metric === 'er_gateway_operation_duration_seconds');
    expect(traces.requests.map(({ headers }) => headers['x-api-key'])).toEqual(traces.requests.map(() => 'traces-key'));
    expect(metrics.requests.length).toBeGreaterThan(0);
    for (const { headers } of metrics.requests) {
      expect(headers['x-metrics-token']).toBe('metrics token');
      expect(headers['x-api-key']).toBeUndefined();
    }
  });
});
