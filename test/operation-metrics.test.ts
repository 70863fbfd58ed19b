import { randomBytes } from 'node:crypto';
import { seededJobId } from '../src/emulator/seed';
import { startTestGateway, type TestGateway } from './utils/gateway';
import { Subscription, wsClient } from './utils/subscriptions';
import { until } from './utils/wait';

/** The value of the sample of `name` whose labels include `labels`, or undefined when /metrics has none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const own = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => own[key] === value)) return Number(match[3]);
  }
  return undefined;
}

/** The distinct values of `label` among the samples of `name`. */
function labelValues(text: string, name: string, label: string): Set<string> {
  const values = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const value = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1];
    if (value !== undefined) values.add(value);
  }
  return values;
}

const metricsOf = async (t: TestGateway) => (await fetch(`${t.gateway.metricsUrl}/metrics`)).text();

const JOB = 'query CustomerJob($jobId: ID!) { idMappingJob(workflowName: "customer-id-map", jobId: $jobId) { status } }';
const MATCH = 'query OneMatch($jobId: ID!) { matchingJob(workflowName: "customer-matching", jobId: $jobId) { status } }';

describe('per-operation metrics on /metrics', () => {
  test('a scripted mix shows durations by operation, errors by code, upstream calls by operation and outcome, streams and events', async () => {
    const t = await startTestGateway({
      env: { ER_FINAL_JOB_CACHE_SIZE: '100', ER_RATE_PER_SECOND: '0.001', ER_RATE_MAX_WAIT_MS: '0' },
    });
    const jobId = seededJobId('customer-id-map', 0);
    // Executed (a call), then cached (the finished job is kept): two operations, one upstream call.
    expect((await t.post(JOB, { jobId })).errors).toBeUndefined();
    expect((await t.post(JOB, { jobId })).errors).toBeUndefined();
    expect((await t.post(MATCH, { jobId: randomBytes(16).toString('hex') })).errors?.[0].extensions?.code).toBe('NOT_FOUND');
    expect((await t.post(MATCH, { jobId: randomBytes(16).toString('hex') })).errors?.[0].extensions?.code).toBe('THROTTLED');
    const client = wsClient(t.gateway.url);
    const subscription = new Subscription(
      client,
      'subscription Follow($jobId: ID!) { idMappingJobUpdated(workflowName: "customer-id-map", jobId: $jobId) { status } }',
      { jobId },
    );
    await subscription.ended();
    expect(subscription.events).toHaveLength(1);

    const text = await metricsOf(t);
    expect(sample(text, 'er_gateway_operation_duration_seconds_count', { type: 'query', name: 'CustomerJob' })).toBe(2);
    expect(sample(text, 'er_gateway_operation_duration_seconds_count', { type: 'query', name: 'OneMatch' })).toBe(2);
    expect(sample(text, 'er_gateway_operation_duration_seconds_count', { type: 'subscription', name: 'Follow' })).toBe(1);
    expect(sample(text, 'er_gateway_operation_errors_total', { type: 'query', name: 'OneMatch', code: 'NOT_FOUND' })).toBe(1);
    expect(sample(text, 'er_gateway_operation_errors_total', { type: 'query', name: 'OneMatch', code: 'THROTTLED' })).toBe(1);
    expect(sample(text, 'er_gateway_operation_errors_total', { name: 'CustomerJob' })).toBeUndefined();
    // The cached read made no call; the subscription's first read did.
    expect(sample(text, 'er_gateway_upstream_duration_seconds_count', { operation: 'GetIdMappingJob', outcome: 'ok' })).toBe(1);
    expect(
      sample(text, 'er_gateway_upstream_duration_seconds_count', { operation: 'GetMatchingJob', outcome: 'ResourceNotFoundException' }),
    ).toBe(1);
    // The refused call never reached the service: it is a governor refusal, not a call.
    expect(sample(text, 'er_gateway_rate_refusals_total', { operation: 'GetMatchingJob' })).toBe(1);
    expect(sample(text, 'er_gateway_upstream_duration_seconds_count', { operation: 'GetMatchingJob', outcome: 'ok' })).toBeUndefined();
    expect(sample(text, 'er_gateway_rate_wait_seconds_count', { operation: 'GetIdMappingJob' })).toBe(1);
    expect(sample(text, 'er_gateway_subscription_events_total')).toBe(1);
    expect(sample(text, 'er_gateway_active_streams', { transport: 'websocket' })).toBe(1);
    expect(sample(text, 'er_gateway_poll_age_max_seconds')).toBe(0);
    await client.dispose();
    // The server hears of the close a moment later.
    await until(async () => sample(await metricsOf(t), 'er_gateway_active_streams', { transport: 'websocket' }) === 0);
  });

  test('500 distinct operation names make at most ER_METRICS_OPERATION_NAMES label values; the rest fold into __other', async () => {
    const t = await startTestGateway({ env: { ER_METRICS_OPERATION_NAMES: '20' } });
    for (let i = 0; i < 500; i++) expect((await t.post(`query Name${i} { __typename }`)).errors).toBeUndefined();
    const text = await metricsOf(t);
    const names = labelValues(text, 'er_gateway_operation_duration_seconds_count', 'name');
    expect(names.size).toBe(21);
    expect(names).toContain('__other');
    expect(sample(text, 'er_gateway_operation_duration_seconds_count', { name: 'Name0' })).toBe(1);
    expect(sample(text, 'er_gateway_operation_duration_seconds_count', { name: '__other' })).toBe(480);
  });
});
