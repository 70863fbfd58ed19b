import { ManualClock } from './utils/clock';
import { startTestGateway, type TestGateway } from './utils/gateway';
import { sseClient } from './utils/subscriptions';
import { until } from './utils/wait';

/** Subscriptions over Server-Sent Events (graphql-sse), for networks that block websockets: the same watcher, limits and masking. */

let t: TestGateway;
// The emulator's jobs move only when the test says: the first state is seen however slow the machine is.
const clock = new ManualClock();
const JOB_MS = 2000;

beforeAll(async () => {
  t = await startTestGateway({
    emulator: { clock: clock.read },
    env: { ER_EMULATOR_JOB_SECONDS: String(JOB_MS / 1000), ER_POLL_INTERVAL_MS: '200' },
  });
});

afterAll(async () => {
  await t.close();
});

const UPDATES = 'subscription ($jobId: ID!) { idMappingJobUpdated(workflowName: "customer-id-map", jobId: $jobId) { id status } }';
const sseUrl = () => `${t.gateway.url}/graphql/stream`;

test('a subscription over SSE follows a job to SUCCEEDED, then completes and leaves nothing watched', async () => {
  const started = await t.post<{ startIdMappingJob: { jobId: string } }>(
    'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }',
  );
  const jobId = started.data!.startIdMappingJob.jobId;
  const client = sseClient(t.gateway.url);
  try {
    const statuses: string[] = [];
    for await (const result of client.iterate<{ idMappingJobUpdated: { status: string } }>({ query: UPDATES, variables: { jobId } })) {
      expect(result.errors).toBeUndefined();
      statuses.push(result.data!.idMappingJobUpdated.status);
      // Halfway (RUNNING) once QUEUED is seen, then past the end once RUNNING is.
      clock.advance(JOB_MS / 2);
    }
    expect(statuses[0]).toBe('QUEUED');
    expect(statuses.at(-1)).toBe('SUCCEEDED');
    expect(statuses).toContain('RUNNING');
    await until(() => t.gateway.watcher.watchedJobs === 0);
  } finally {
    client.dispose();
  }
});

test('a client that leaves while the first read is pending leaves nothing watched', async () => {
  t.emulator.setFaults({ latencyMs: 60_000 });
  const client = sseClient(t.gateway.url);
  try {
    const stream = client.iterate({ query: UPDATES, variables: { jobId: 'f'.repeat(32) } });
    const next = stream.next();
    await until(() => t.gateway.watcher.watchedJobs === 1);
    await stream.return!();
    await until(() => t.gateway.watcher.watchedJobs === 0);
    void next.catch(() => {});
  } finally {
    t.emulator.setFaults({});
    client.dispose();
  }
});

test('an operation the gate refuses is a 400 with GraphQL errors, before anything runs', async () => {
  const before = t.emulator.requests();
  const ask = (query: string, variables?: Record<string, unknown>) =>
    fetch(sseUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query, variables }),
    });
  const invalid = await ask('subscription { idMappingJobUpdated { nope } }');
  expect(invalid.status).toBe(400);
  expect(((await invalid.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe(
    'GRAPHQL_VALIDATION_FAILED',
  );
  const costly = await ask(
    'query ($f: Int) { idMappingWorkflows(first: $f) { nodes { jobs(first: $f) { nodes { metrics { inputRecords } } } } } }',
    { f: 100 },
  );
  expect(costly.status).toBe(400);
  expect(((await costly.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions).toMatchObject({
    code: 'LIMIT_EXCEEDED',
    limit: 'upstreamCalls',
  });
  expect(t.emulator.requests()).toBe(before);
});

test('a subscription POSTed without an event-stream accept header is a 406 GraphQL error saying what to send', async () => {
  const res = await fetch(sseUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: UPDATES, variables: { jobId: 'f'.repeat(32) } }),
  });
  expect([res.status, await res.json()]).toEqual([
    406,
    {
      errors: [
        {
          message:
            '/graphql/stream streams GraphQL over Server-Sent Events: send Accept: text/event-stream. Queries and mutations go to /graphql.',
          extensions: { code: 'NOT_ACCEPTABLE' },
        },
      ],
    },
  ]);
});
