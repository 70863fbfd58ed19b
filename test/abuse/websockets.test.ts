import { print } from 'graphql';
import { seededJobId } from '../../src/emulator/seed';
import { IdMappingJobUpdatedDocument, type IdMappingJobUpdatedSubscription } from '../generated/graphql';
import { startTestGateway, type TestGateway } from '../utils/gateway';
import { ManualScheduler } from '../utils/scheduler';
import { RawSocket, Subscription, wsClient } from '../utils/subscriptions';
import { until } from '../utils/wait';

/**
 * A hostile client over websockets: subscriptions it abandons, more than its
 * share of sockets, subscriptions and jobs, floods of messages and frames
 * too large. Each test has a gateway of its own.
 */

const UPDATES = print(IdMappingJobUpdatedDocument);
const WORKFLOW = 'customer-id-map';
/** A well-formed job id the service has never heard of. */
const bogusJobId = (i: number) => `f${i.toString(16).padStart(31, '0')}`;

async function watchedJobsMetric(t: TestGateway): Promise<string> {
  return (await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text()).match(/^er_gateway_watched_jobs \d+$/m)![0];
}

async function activeSubscriptions(t: TestGateway): Promise<number> {
  return (await t.gateway.metrics.activeSubscriptions.get()).values[0]?.value ?? 0;
}

test('sockets that leave while their first reads are pending leave nothing watched, nothing polling', async () => {
  const scheduler = new ManualScheduler();
  // The service answers nothing for a minute: only the sockets' leaving can release what they asked for.
  // One client (one address) past its default share of jobs: the share is another test's.
  const t = await startTestGateway({ scheduler, env: { ER_WATCHED_JOBS_PER_CLIENT: '1000' }, emulator: { faults: { latencyMs: 60_000 } } });
  try {
    const sockets = await Promise.all(Array.from({ length: 5 }, () => RawSocket.open(t.gateway.url)));
    sockets.forEach((socket, s) => {
      for (let i = 0; i < 100; i++) socket.subscribe(`${i}`, UPDATES, { workflowName: WORKFLOW, jobId: bogusJobId(s * 100 + i) });
    });
    await until(() => t.gateway.watcher.watchedJobs === 500);
    for (const socket of sockets) socket.close();
    await until(() => t.gateway.watcher.watchedJobs === 0);
    expect(await watchedJobsMetric(t)).toBe('er_gateway_watched_jobs 0');
    expect(await activeSubscriptions(t)).toBe(0);
    // No poll is scheduled, so nothing more reaches the service for them: at most the one first read each asked for.
    expect(scheduler.pending).toBe(0);
    expect(t.emulator.requests('GetIdMappingJob')).toBeLessThanOrEqual(500);
  } finally {
    t.emulator.setFaults({});
    await t.close();
  }
});

test('a subscription completed by its client before its first read answers is released at once', async () => {
  const t = await startTestGateway({ emulator: { faults: { latencyMs: 60_000 } } });
  const socket = await RawSocket.open(t.gateway.url);
  try {
    socket.subscribe('1', UPDATES, { workflowName: WORKFLOW, jobId: bogusJobId(1) });
    await until(() => t.gateway.watcher.watchedJobs === 1);
    socket.send(JSON.stringify({ id: '1', type: 'complete' }));
    await until(() => t.gateway.watcher.watchedJobs === 0);
    expect(await activeSubscriptions(t)).toBe(0);
  } finally {
    socket.close();
    t.emulator.setFaults({});
    await t.close();
  }
});

test('a first read refused as THROTTLED ends the subscription with THROTTLED and keeps no poller', async () => {
  const scheduler = new ManualScheduler();
  // The governor's clock stands still: the token the first read takes is not back for the second, however slow the machine.
  const t = await startTestGateway({
    scheduler,
    timers: new ManualScheduler(),
    env: { ER_RATE_PER_SECOND: '1', ER_RATE_MAX_WAIT_MS: '0' },
  });
  const client = wsClient(t.gateway.url);
  try {
    const first = new Subscription<IdMappingJobUpdatedSubscription>(client, UPDATES, {
      workflowName: WORKFLOW,
      jobId: seededJobId(WORKFLOW, 12),
    });
    const second = new Subscription<IdMappingJobUpdatedSubscription>(client, UPDATES, {
      workflowName: WORKFLOW,
      jobId: seededJobId(WORKFLOW, 11),
    });
    await Promise.all([first.ended(), second.ended()]);
    const outcomes = [first, second].map(
      (sub) => sub.events[0].errors?.[0].extensions?.code ?? sub.events[0].data!.idMappingJobUpdated.status,
    );
    expect(outcomes.sort()).toEqual(['SUCCEEDED', 'THROTTLED']);
    expect(t.gateway.watcher.watchedJobs).toBe(0);
    expect(scheduler.pending).toBe(0);
    expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
  } finally {
    await client.dispose();
    await t.close();
  }
});

test('a socket holds ER_WS_SUBSCRIPTIONS_PER_SOCKET subscriptions; past it, LIMIT_EXCEEDED until one completes', async () => {
  const t = await startTestGateway({ env: { ER_WS_SUBSCRIPTIONS_PER_SOCKET: '3' }, emulator: { faults: { latencyMs: 60_000 } } });
  const socket = await RawSocket.open(t.gateway.url);
  try {
    for (let i = 0; i < 4; i++) socket.subscribe(`${i}`, UPDATES, { workflowName: WORKFLOW, jobId: bogusJobId(i) });
    await socket.until(() => socket.results('3').length > 0);
    expect(socket.results('3')[0].errors).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/^A connection may hold 3 subscriptions at once/),
        extensions: { code: 'LIMIT_EXCEEDED', limit: 'subscriptionsPerSocket', limitValue: 3 },
      }),
    ]);
    expect(t.gateway.watcher.watchedJobs).toBe(3);
    socket.send(JSON.stringify({ id: '0', type: 'complete' }));
    await until(() => t.gateway.watcher.watchedJobs === 2);
    socket.subscribe('4', UPDATES, { workflowName: WORKFLOW, jobId: bogusJobId(4) });
    await until(() => t.gateway.watcher.watchedJobs === 3);
  } finally {
    socket.close();
    t.emulator.setFaults({});
    await t.close();
  }
});

test('a client watches ER_WATCHED_JOBS_PER_CLIENT distinct jobs over all its sockets; more subscribers of the same job cost nothing', async () => {
  const t = await startTestGateway({ env: { ER_WATCHED_JOBS_PER_CLIENT: '2' }, emulator: { faults: { latencyMs: 60_000 } } });
  const [a, b] = await Promise.all([RawSocket.open(t.gateway.url), RawSocket.open(t.gateway.url)]);
  try {
    a.subscribe('1', UPDATES, { workflowName: WORKFLOW, jobId: bogusJobId(1) });
    b.subscribe('1', UPDATES, { workflowName: WORKFLOW, jobId: bogusJobId(2) });
    a.subscribe('2', UPDATES, { workflowName: WORKFLOW, jobId: bogusJobId(2) });
    while ((await activeSubscriptions(t)) < 3) await new Promise((resolve) => setImmediate(resolve));
    b.subscribe('2', UPDATES, { workflowName: WORKFLOW, jobId: bogusJobId(3) });
    await b.until(() => b.results('2').length > 0);
    expect(b.results('2')[0].errors).toEqual([
      expect.objectContaining({ extensions: { code: 'LIMIT_EXCEEDED', limit: 'jobsPerClient', limitValue: 2 } }),
    ]);
    expect(t.gateway.watcher.watchedJobs).toBe(2);
    expect(await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text()).toMatch(
      /^er_gateway_limit_refusals_total\{limit="jobsPerClient"\} 1$/m,
    );
  } finally {
    a.close();
    b.close();
    t.emulator.setFaults({});
    await t.close();
  }
});

test('a client holds ER_STREAMS_PER_CLIENT sockets; one more is closed with 1008', async () => {
  const t = await startTestGateway({ env: { ER_STREAMS_PER_CLIENT: '2' } });
  try {
    const held = await Promise.all([RawSocket.open(t.gateway.url), RawSocket.open(t.gateway.url)]);
    const extra = await RawSocket.open(t.gateway.url, { init: false });
    extra.init();
    expect(await extra.closed).toEqual({ code: 1008, reason: 'Too many connections from this client' });
    held[0].close();
    await held[0].closed;
    // The share is counted by sockets held: one closed, one may open.
    const next = await RawSocket.open(t.gateway.url);
    expect(next.messages).toEqual([{ type: 'connection_ack' }]);
    for (const socket of [...held, next]) socket.close();
  } finally {
    await t.close();
  }
});

test('an address holds ER_STREAMS_PER_CLIENT sockets that have not said who they are; one more upgrade is 429', async () => {
  const t = await startTestGateway({ env: { ER_STREAMS_PER_CLIENT: '2' } });
  try {
    const silent = await Promise.all([RawSocket.open(t.gateway.url, { init: false }), RawSocket.open(t.gateway.url, { init: false })]);
    await expect(RawSocket.open(t.gateway.url, { init: false })).rejects.toThrow('Unexpected server response: 429');
    // Once one has said who it is, the address may open another.
    silent[0].init();
    await silent[0].message('connection_ack');
    const next = await RawSocket.open(t.gateway.url, { init: false });
    for (const socket of [...silent, next]) socket.close();
  } finally {
    await t.close();
  }
});

test('a socket that floods messages (pings count) is closed with 1008', async () => {
  // The message budget refills on a clock that stands still: its burst of 10 messages pass (connection_init among them), the 11th closes the socket.
  const t = await startTestGateway({ timers: new ManualScheduler(), env: { ER_WS_MESSAGES_PER_SECOND: '5' } });
  try {
    const socket = await RawSocket.open(t.gateway.url);
    for (let i = 0; i < 8; i++) socket.ping();
    socket.send(JSON.stringify({ type: 'ping' }));
    await socket.message('pong');
    socket.ping();
    expect(await socket.closed).toEqual({ code: 1008, reason: 'Too many messages' });
    expect(await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text()).toMatch(
      /^er_gateway_websockets_dropped_total\{reason="message_rate"\} 1$/m,
    );
  } finally {
    await t.close();
  }
});

test('a frame larger than ER_BODY_LIMIT_BYTES is refused with 1009 before it is read whole', async () => {
  const t = await startTestGateway();
  try {
    const socket = await RawSocket.open(t.gateway.url);
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `{ __typename }`, padding: 'x'.repeat(1024 * 1024) } }));
    expect((await socket.closed).code).toBe(1009);
    // The gateway goes on serving others.
    expect((await t.post('{ __typename }')).data).toEqual({ __typename: 'Query' });
  } finally {
    await t.close();
  }
});

test.each([
  ['text that is not JSON', '{"type":"connection_init"'],
  ['a number', '42'],
  ['an array', '[{"type":"connection_init"}]'],
  ['null', 'null'],
  ['a JSON string holding a message', JSON.stringify(JSON.stringify({ type: 'connection_init' }))],
])('a message that is %s is refused with 4400, as graphql-ws refuses it', async (_name, message) => {
  const t = await startTestGateway();
  try {
    const socket = await RawSocket.open(t.gateway.url, { init: false });
    socket.send(message);
    // A ping after it: a socket left open answers it, and the test fails at once rather than at its timeout.
    socket.send(JSON.stringify({ type: 'ping' }));
    expect(await Promise.race([socket.closed, socket.message('pong')])).toEqual({ code: 4400, reason: 'Invalid message received' });
    expect(socket.messages).toEqual([]);
  } finally {
    await t.close();
  }
});

test('a complete sent as a JSON string holding it is refused with 4400, and its subscription is released with the socket', async () => {
  const t = await startTestGateway({ emulator: { faults: { latencyMs: 60_000 } } });
  const socket = await RawSocket.open(t.gateway.url);
  try {
    socket.subscribe('1', UPDATES, { workflowName: WORKFLOW, jobId: bogusJobId(1) });
    await until(() => t.gateway.watcher.watchedJobs === 1);
    socket.send(JSON.stringify(JSON.stringify({ id: '1', type: 'complete' })));
    socket.send(JSON.stringify({ type: 'ping' }));
    expect(await Promise.race([socket.closed, socket.message('pong')])).toEqual({ code: 4400, reason: 'Invalid message received' });
    await until(() => t.gateway.watcher.watchedJobs === 0);
    expect(await activeSubscriptions(t)).toBe(0);
  } finally {
    socket.close();
    t.emulator.setFaults({});
    await t.close();
  }
});
