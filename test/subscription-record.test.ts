import { randomBytes } from 'node:crypto';
import { MAX_STATE_EVENTS } from '../src/observe/subscription-record';
import { startOtlpReceiver } from './utils/otlp';
import { startGatewayProcess } from './utils/process';
import { Subscription, wsClient } from './utils/subscriptions';

test("a traced subscription's events are one span in its trace when it ends: counts as attributes, the states it got as span events", async () => {
  const receiver = await startOtlpReceiver();
  const gateway = await startGatewayProcess({
    ...receiver.env,
    ER_EMULATOR_JOB_SECONDS: '2',
    ER_POLL_INTERVAL_MS: '50',
  });
  const start = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }' }),
  });
  const { jobId } = ((await start.json()) as { data: { startIdMappingJob: { jobId: string } } }).data.startIdMappingJob;
  const traceId = randomBytes(16).toString('hex');
  const client = wsClient(gateway.url, { connectionParams: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } });
  const subscription = new Subscription<{ idMappingJobUpdated: { status: string } }>(
    client,
    'subscription Follow($jobId: ID!) { idMappingJobUpdated(workflowName: "customer-id-map", jobId: $jobId) { status } }',
    { jobId },
  );
  await subscription.ended();
  const statuses = subscription.events.map((event) => event.data?.idMappingJobUpdated.status);
  expect(statuses.at(-1)).toBe('SUCCEEDED');

  const [subscribe] = await receiver.waitFor((span) => span.traceId === traceId && span.kind === 2);
  const [record] = await receiver.waitFor((span) => span.traceId === traceId && span.name === 'subscription events');
  expect(record).toMatchObject({
    parentSpanId: subscribe.spanId,
    attributes: {
      'er.job.kind': 'idMapping',
      'er.job.id': jobId,
      'er.subscription.events.delivered': statuses.length,
      'er.subscription.events.skipped': 0,
    },
  });
  // The first states, up to the bound; the rest are counted only.
  expect(record.events.map((event) => event.attributes['er.job.status'])).toEqual(statuses.slice(0, MAX_STATE_EVENTS));
  expect(record.attributes['er.subscription.events.unrecorded'] ?? 0).toBe(Math.max(0, statuses.length - MAX_STATE_EVENTS));
  // One span for the whole subscription, however many events: none per event.
  expect(receiver.spans.filter((span) => span.traceId === traceId && span.kind === 1).map((span) => span.name)).toEqual([
    'subscription events',
  ]);
});
