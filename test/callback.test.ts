import { randomUUID } from 'node:crypto';
import { newApiKey, writeTempFile } from './utils/auth';
import { fetchFrom } from './utils/address';
import { CallbackReceiver } from './utils/callback-receiver';
import { ManualClock } from './utils/clock';
import { capturedLogger, startTestGateway, type TestGateway } from './utils/gateway';
import { ManualScheduler } from './utils/scheduler';
import { until } from './utils/wait';

/**
 * The HTTP callback protocol against a receiver the test holds (a router's
 * callback endpoint): what a router sees, message by message, and what it
 * does not exercise: heartbeats on the gateway's clock, retries and give-up,
 * the allow-list, the preview's names, authentication and the stream budget.
 */

const JOB_MS = 2000;
const UPDATES = 'subscription ($jobId: ID!) { idMappingJobUpdated(workflowName: "customer-id-map", jobId: $jobId) { id status } }';
const START = 'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }';

interface Subscribed {
  id: string;
  status: number;
  body: { data?: unknown; errors?: { message: string; extensions: { code: string } }[] };
}

/** What a router POSTs to subscribe in callback mode, with its answer. */
async function subscribe(
  t: TestGateway,
  callbackUrl: (id: string) => string,
  variables: Record<string, unknown>,
  options: { heartbeatIntervalMs?: number; preview?: boolean; headers?: Record<string, string>; onAnswer?: () => void } = {},
): Promise<Subscribed> {
  const id = randomUUID();
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 0;
  const subscription = options.preview
    ? { callback_url: callbackUrl(id), subscription_id: id, verifier: `v-${id}`, heartbeat_interval_ms: heartbeatIntervalMs }
    : { callbackUrl: callbackUrl(id), subscriptionId: id, verifier: `v-${id}`, heartbeatIntervalMs };
  const res = await fetch(t.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json;callbackSpec=1.0', ...options.headers },
    body: JSON.stringify({ query: UPDATES, variables, extensions: { subscription } }),
  });
  options.onAnswer?.();
  return { id, status: res.status, body: (await res.json()) as Subscribed['body'] };
}

/** Jobs started by the current test: the emulator runs one at a time, so each is ended after its test. */
const started: { t: TestGateway; jobId: string }[] = [];

async function startJob(t: TestGateway, headers: Record<string, string> = {}): Promise<string> {
  const answer = await t.post<{ startIdMappingJob: { jobId: string } }>(START, undefined, headers);
  expect(answer.errors).toBeUndefined();
  const { jobId } = answer.data!.startIdMappingJob;
  started.push({ t, jobId });
  return jobId;
}

// Its subscriptions end with it (FAILED, then complete): the next test's counts are its own.
afterEach(async () => {
  for (const { t, jobId } of started.splice(0)) {
    try {
      t.emulator.state.failJob('idMapping', 'customer-id-map', jobId, 'ended by the test');
    } catch {
      // Final already.
    }
    await until(async () => t.gateway.watcher.watchedJobs === 0 && (await openCallbacks(t).catch(() => 0)) === 0);
  }
});

/** Open callback subscriptions, as /metrics counts them. */
const openCallbacks = (t: TestGateway) => metric(t, 'er_gateway_active_streams{transport="callback"}');

async function metric(t: TestGateway, name: string): Promise<number> {
  const text = await (await fetch(`${t.gateway.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('with the receiver allowed', () => {
  let t: TestGateway;
  let receiver: CallbackReceiver;
  const clock = new ManualClock();
  const timers = new ManualScheduler();

  beforeAll(async () => {
    receiver = await CallbackReceiver.start();
    t = await startTestGateway({
      emulator: { clock: clock.read },
      timers,
      env: {
        ER_EMULATOR_JOB_SECONDS: String(JOB_MS / 1000),
        ER_POLL_INTERVAL_MS: '100',
        ER_CALLBACK_URL_ALLOW: 'http://127.0.0.1:*/callback/**',
      },
    });
  });
  afterEach(() => {
    receiver.answer = () => 204;
  });

  test("check comes first and the router's request is answered only once the router confirmed it; then each state, SUCCEEDED last, then complete", async () => {
    const jobId = await startJob(t);
    let answered = false;
    let confirm!: () => void;
    const confirmed = new Promise<void>((resolve) => (confirm = resolve));
    let answeredAtCheck: boolean | undefined;
    receiver.answer = async (message) => {
      if (message.action === 'check' && answeredAtCheck === undefined) {
        answeredAtCheck = answered;
        await confirmed;
      }
      return 204;
    };
    const pending = subscribe(t, (id) => receiver.urlOf(id), { jobId }, { onAnswer: () => (answered = true) });
    await until(() => answeredAtCheck !== undefined);
    expect(answeredAtCheck).toBe(false);
    expect(answered).toBe(false);
    confirm();
    const { id, status, body } = await pending;
    expect({ status, body }).toEqual({ status: 200, body: { data: null } });
    // Each state seen moves the job on: halfway (RUNNING), then past its end.
    for (let seen = 1; receiver.actions(id).at(-1) !== 'complete'; seen++) {
      await until(() => receiver.of(id).length > seen, { emitter: receiver, event: 'message' });
      clock.advance(JOB_MS / 2);
    }
    const messages = receiver.of(id);
    expect(messages[0].action).toBe('check');
    expect(messages.at(-1)!.action).toBe('complete');
    expect(messages.at(-1)!.errors).toBeUndefined();
    const statuses = messages
      .filter((m) => m.action === 'next')
      .map((m) => (m.payload!.data!.idMappingJobUpdated as { status: string }).status);
    expect(statuses[0]).toBe('QUEUED');
    expect(statuses.at(-1)).toBe('SUCCEEDED');
    for (const message of messages) {
      expect(message).toMatchObject({ kind: 'subscription', id, verifier: `v-${id}` });
      expect(message.headers['subscription-protocol']).toBe('callback/1.0');
    }
    await until(() => t.gateway.watcher.watchedJobs === 0);
  });

  test("a check within every heartbeat interval on the gateway's clock (at 80% of it), none with 0", async () => {
    const jobId = await startJob(t);
    const beating = await subscribe(t, (id) => receiver.urlOf(id), { jobId }, { heartbeatIntervalMs: 10_000 });
    const silent = await subscribe(t, (id) => receiver.urlOf(id), { jobId }, { heartbeatIntervalMs: 0 });
    expect([beating.status, silent.status]).toEqual([200, 200]);
    const checks = (id: string) => receiver.actions(id).filter((action) => action === 'check').length;
    await until(() => receiver.actions(beating.id).includes('next') && receiver.actions(silent.id).includes('next'));
    for (let beat = 1; beat <= 3; beat++) {
      // The next heartbeat is armed once the last one was answered.
      await until(() => timers.delays.includes(8000));
      await timers.advance(7999);
      expect(checks(beating.id)).toBe(beat);
      await timers.advance(1);
      await until(() => checks(beating.id) === beat + 1);
    }
    expect(checks(silent.id)).toBe(1);
    receiver.answer = () => 404;
    await until(() => timers.delays.includes(8000));
    await timers.advance(8000);
    await until(() => t.gateway.watcher.watchedJobs === 1 && receiver.actions(beating.id).length === 6);
    expect(checks(silent.id)).toBe(1);
  });

  test('a 503 is retried with backoff until delivered; past the retries the message is dropped (counted) and the subscription ends, its poller released', async () => {
    const jobId = await startJob(t);
    const { id } = await subscribe(t, (id) => receiver.urlOf(id), { jobId }, { heartbeatIntervalMs: 10_000 });
    await until(() => receiver.actions(id).includes('next'));
    expect(t.gateway.watcher.watchedJobs).toBe(1);
    let unavailable = 2;
    receiver.answer = (message) => (message.id === id && unavailable-- > 0 ? 503 : 204);
    const before = receiver.attempts;
    await timers.advance(8000);
    // The waits between attempts double: 100 ms, then 200; each is on the gateway's clock once the 503 is in.
    for (const wait of [100, 200]) {
      await until(() => timers.delays.includes(wait));
      await timers.advance(wait);
    }
    await until(() => receiver.actions(id).filter((a) => a === 'check').length === 4);
    expect(receiver.attempts).toBe(before + 3);
    expect(receiver.of(id).filter((m) => m.action === 'check')).toHaveLength(4);

    const dropped = await metric(t, 'er_gateway_callback_messages_dropped_total{action="check"}');
    receiver.answer = (message) => (message.id === id ? 503 : 204);
    const failing = receiver.attempts;
    await until(() => timers.delays.includes(8000));
    await timers.advance(8000);
    for (const wait of [100, 200, 400, 800]) {
      await until(() => timers.delays.includes(wait));
      await timers.advance(wait);
    }
    await until(() => receiver.attempts === failing + 5);
    await until(() => t.gateway.watcher.watchedJobs === 0);
    expect(await metric(t, 'er_gateway_callback_messages_dropped_total{action="check"}')).toBe(dropped + 1);
    // Five attempts in all, then nothing more: no complete to a router that does not answer.
    await timers.advance(20_000);
    expect(receiver.attempts).toBe(failing + 5);
  });

  test("a next answered 200 with a body that never ends is delivered at its status: the check behind it goes out, and the drip's connection is cut at the attempt's deadline", async () => {
    const jobId = await startJob(t);
    let cut!: () => void;
    const dripCut = new Promise<void>((resolve) => (cut = resolve));
    let dripping = false;
    receiver.answer = (message) => {
      if (message.action !== 'next' || dripping) return 204;
      dripping = true;
      return (res) => {
        res.writeHead(200, { 'content-type': 'text/plain' }).write(' ');
        const drip = setInterval(() => res.write(' '), 20);
        res.once('close', () => {
          clearInterval(drip);
          cut();
        });
      };
    };
    const { id } = await subscribe(t, (id) => receiver.urlOf(id), { jobId }, { heartbeatIntervalMs: 10_000 });
    await until(() => receiver.actions(id).includes('next'));
    await timers.advance(8000);
    await until(() => receiver.actions(id).filter((action) => action === 'check').length === 2);
    // Still dripping: the attempt's 10 s are on the gateway's clock.
    await timers.advance(2000);
    await dripCut;
  });

  test("a check whose answer never completes its headers is cut at the heartbeat interval on the gateway's clock: dropped, and the subscription ends", async () => {
    const jobId = await startJob(t);
    const { id } = await subscribe(t, (id) => receiver.urlOf(id), { jobId }, { heartbeatIntervalMs: 10_000 });
    await until(() => receiver.actions(id).includes('next'));
    const dropped = await metric(t, 'er_gateway_callback_messages_dropped_total{action="check"}');
    receiver.answer = () => (res) => {
      // A header line at a time, never the blank line that ends them: the connection is never idle.
      res.socket!.write('HTTP/1.1 200 OK\r\n');
      const drip = setInterval(() => res.socket!.write('x-drip: 1\r\n'), 20);
      res.socket!.once('close', () => clearInterval(drip));
    };
    await timers.advance(8000);
    await until(() => receiver.actions(id).filter((action) => action === 'check').length === 2);
    expect(t.gateway.watcher.watchedJobs).toBe(1);
    await timers.advance(10_000);
    await until(() => t.gateway.watcher.watchedJobs === 0);
    expect(await metric(t, 'er_gateway_callback_messages_dropped_total{action="check"}')).toBe(dropped + 1);
  });

  test('a 404 from the router ends the subscription at once and releases its poller: no retry, no complete', async () => {
    const jobId = await startJob(t);
    const { id } = await subscribe(t, (id) => receiver.urlOf(id), { jobId }, { heartbeatIntervalMs: 10_000 });
    await until(() => receiver.actions(id).includes('next'));
    receiver.answer = () => 404;
    const before = receiver.attempts;
    await timers.advance(8000);
    await until(() => t.gateway.watcher.watchedJobs === 0);
    await timers.advance(20_000);
    expect(receiver.attempts).toBe(before + 1);
    expect(receiver.actions(id).at(-1)).toBe('check');
  });

  test("a check the router refuses: the router's request is answered 400 and nothing is watched", async () => {
    const jobId = await startJob(t);
    receiver.answer = () => 404;
    const { id, status, body } = await subscribe(t, (id) => receiver.urlOf(id), { jobId });
    expect(status).toBe(400);
    expect(body.errors![0].message).toMatch(/did not confirm/);
    expect(receiver.actions(id)).toEqual(['check']);
    await until(() => t.gateway.watcher.watchedJobs === 0);
  });

  test('a heartbeat interval under 500 ms, over 300 000 ms, or not a whole number, is refused with BAD_USER_INPUT before anything is called', async () => {
    // Past 2^31-1 ms Node would fire the heartbeat's timer after 1 ms: a check storm.
    for (const heartbeatIntervalMs of [1, 499, 1.5, -1, 300_001, 3_000_000_000]) {
      const { id, status, body } = await subscribe(t, (id) => receiver.urlOf(id), { jobId: 'f'.repeat(32) }, { heartbeatIntervalMs });
      expect({ status, code: body.errors![0].extensions.code }).toEqual({ status: 400, code: 'BAD_USER_INPUT' });
      expect(receiver.of(id)).toEqual([]);
    }
  });

  test("the preview's snake_case names (callback_url, subscription_id, heartbeat_interval_ms) are accepted", async () => {
    const jobId = await startJob(t);
    const { id, status } = await subscribe(t, (id) => receiver.urlOf(id), { jobId }, { preview: true, heartbeatIntervalMs: 10_000 });
    expect(status).toBe(200);
    await until(() => receiver.actions(id).includes('next'));
    await timers.advance(8000);
    await until(() => receiver.actions(id).filter((a) => a === 'check').length === 2);
    receiver.answer = () => 404;
    await until(() => timers.delays.includes(8000));
    await timers.advance(8000);
    await until(() => t.gateway.watcher.watchedJobs === 0);
  });

  test('a callback URL outside ER_CALLBACK_URL_ALLOW is refused with FORBIDDEN and never called', async () => {
    const elsewhere = await CallbackReceiver.start('localhost');
    const jobId = await startJob(t);
    const { status, body } = await subscribe(t, (id) => elsewhere.urlOf(id), { jobId });
    expect(status).toBe(403);
    expect(body.errors![0].extensions.code).toBe('FORBIDDEN');
    // Nor a URL on the allowed host outside the pattern's path.
    const off = await subscribe(t, (id) => `${receiver.url}/elsewhere/${id}`, { jobId });
    expect(off.status).toBe(403);
    expect(receiver.of(off.id)).toEqual([]);
    // The path is matched case and all: /Callback is not /callback.
    const cased = await subscribe(t, (id) => `${receiver.url}/Callback/${id}`, { jobId });
    expect(cased.status).toBe(403);
    expect(receiver.of(cased.id)).toEqual([]);
    expect(elsewhere.attempts).toBe(0);
    expect(t.gateway.watcher.watchedJobs).toBe(0);
  });

  test('a router that leaves while the subscription is being set up leaves nothing behind: no check, no stream, no poller', async () => {
    const { logger, line } = capturedLogger();
    // One connection per address: the router's address gets another once the gateway has seen its first one close.
    const own = await startTestGateway({ logger, env: { ER_CALLBACK_URL_ALLOW: receiver.url, ER_MAX_CONNECTIONS_PER_ADDRESS: '1' } });
    const jobId = await startJob(own);
    const router = fetchFrom('127.0.0.7');
    // The subscription's first read is held at the service until the router has gone.
    const held = own.emulator.holdNext('GetIdMappingJob');
    const leave = new AbortController();
    const id = randomUUID();
    const request = router(own.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: UPDATES,
        variables: { jobId },
        extensions: { subscription: { callbackUrl: receiver.urlOf(id), subscriptionId: id, verifier: 'v', heartbeatIntervalMs: 0 } },
      }),
      signal: leave.signal,
    }).catch(() => undefined);
    await held.arrived;
    leave.abort();
    await request;
    await until(() =>
      router(`${own.gateway.url}/healthz`).then(
        () => true,
        () => false,
      ),
    );
    await held.release();
    await line((l) => l.msg === 'callback subscription dropped: the router left during its setup');
    await until(async () => (await openCallbacks(own)) === 0 && own.gateway.watcher.watchedJobs === 0);
    expect(receiver.of(id)).toEqual([]);
  });

  test('a subscription still being set up when shutdown begins is refused with 503 and never called', async () => {
    const own = await startTestGateway({ env: { ER_CALLBACK_URL_ALLOW: receiver.url } });
    const jobId = await startJob(own);
    const held = own.emulator.holdNext('GetIdMappingJob');
    const pending = subscribe(own, (id) => receiver.urlOf(id), { jobId });
    await held.arrived;
    const closing = own.close();
    await held.release();
    const { id, status, body } = await pending;
    expect({ status, code: body.errors?.[0].extensions.code }).toEqual({ status: 503, code: 'UPSTREAM_UNAVAILABLE' });
    await closing;
    expect(receiver.of(id)).toEqual([]);
  });

  test('at shutdown each subscription is sent complete with UPSTREAM_UNAVAILABLE (reason shutdown)', async () => {
    const own = await startTestGateway({
      emulator: { clock: clock.read },
      env: { ER_EMULATOR_JOB_SECONDS: String(JOB_MS / 1000), ER_CALLBACK_URL_ALLOW: receiver.url },
    });
    const jobId = await startJob(own);
    const { id } = await subscribe(own, (id) => receiver.urlOf(id), { jobId }, { heartbeatIntervalMs: 60_000 });
    await until(() => receiver.actions(id).includes('next'));
    await own.close();
    expect(receiver.actions(id).at(-1)).toBe('complete');
    expect(receiver.of(id).at(-1)!.errors).toEqual([
      { message: expect.stringMatching(/shutting down/), extensions: { code: 'UPSTREAM_UNAVAILABLE', reason: 'shutdown' } },
    ]);
  });
});

test('without ER_CALLBACK_URL_ALLOW, callback mode is refused with FORBIDDEN naming the setting, and nothing is called', async () => {
  const receiver = await CallbackReceiver.start();
  const t = await startTestGateway();
  const { status, body } = await subscribe(t, (id) => receiver.urlOf(id), { jobId: 'f'.repeat(32) });
  expect(status).toBe(403);
  expect(body.errors![0]).toMatchObject({ message: expect.stringMatching(/ER_CALLBACK_URL_ALLOW/), extensions: { code: 'FORBIDDEN' } });
  expect(receiver.attempts).toBe(0);
  await t.close();
});

test('a request of the wrong shape is 400 BAD_REQUEST, holds no stream and logs no error', async () => {
  const receiver = await CallbackReceiver.start();
  const { logger, lines } = capturedLogger();
  const t = await startTestGateway({ logger, env: { ER_CALLBACK_URL_ALLOW: receiver.url, ER_STREAMS_PER_CLIENT: '1' } });
  const extensions = {
    subscription: { callbackUrl: receiver.urlOf('shape'), subscriptionId: 'shape', verifier: 'v', heartbeatIntervalMs: 0 },
  };
  const variables = { jobId: 'f'.repeat(32) };
  const shapes = [
    { query: UPDATES, variables: 'x' },
    { query: UPDATES, variables: [1] },
    { query: 123, variables },
    { query: {}, variables },
    { query: UPDATES, variables, operationName: 7 },
  ];
  for (const shape of shapes) {
    const res = await fetch(t.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...shape, extensions }),
    });
    const body = (await res.json()) as Subscribed['body'];
    expect({ shape, status: res.status, code: body.errors?.[0].extensions.code }).toEqual({ shape, status: 400, code: 'BAD_REQUEST' });
    expect(await openCallbacks(t)).toBe(0);
  }
  expect(receiver.attempts).toBe(0);
  expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
  await t.close();
});

describe('with auth on', () => {
  const pipeline = newApiKey();
  const stranger = newApiKey();
  let t: TestGateway;
  let receiver: CallbackReceiver;

  beforeAll(async () => {
    receiver = await CallbackReceiver.start();
    t = await startTestGateway({
      env: {
        ER_AUTH: 'apikey',
        ER_API_KEYS: `pipeline:${pipeline.sha256},stranger:${stranger.sha256}`,
        ER_POLICY_FILE: writeTempFile('policy.yaml', {
          grants: [{ to: { apiKeys: ['pipeline'] }, workflows: ['customer-*'], actions: ['read', 'start', 'subscribe'] }],
        }),
        ER_CALLBACK_URL_ALLOW: receiver.url,
        ER_STREAMS_PER_CLIENT: '1',
      },
    });
  });

  test('without credentials the request is 401 and nothing is called', async () => {
    const { status, body } = await subscribe(t, (id) => receiver.urlOf(id), { jobId: 'f'.repeat(32) });
    expect(status).toBe(401);
    expect(body.errors![0].extensions.code).toBe('UNAUTHENTICATED');
    expect(receiver.attempts).toBe(0);
  });

  test('a principal the policy does not let subscribe gets FORBIDDEN as the answer, and nothing is called', async () => {
    const jobId = await startJob(t, { 'x-api-key': pipeline.key });
    const { status, body } = await subscribe(t, (id) => receiver.urlOf(id), { jobId }, { headers: { 'x-api-key': stranger.key } });
    expect(status).toBe(200);
    expect(body.errors!.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
    expect(receiver.attempts).toBe(0);
  });

  test("a callback subscription is one of its client's streams: past ER_STREAMS_PER_CLIENT it is 429, and its end gives the stream back", async () => {
    const headers = { 'x-api-key': pipeline.key };
    const jobId = await startJob(t, headers);
    const first = await subscribe(t, (id) => receiver.urlOf(id), { jobId }, { headers, heartbeatIntervalMs: 0 });
    expect(first.status).toBe(200);
    const second = await subscribe(t, (id) => receiver.urlOf(id), { jobId }, { headers });
    expect(second.status).toBe(429);
    expect(second.body.errors![0].extensions.code).toBe('LIMIT_EXCEEDED');
    // The router ends the first: the next message it is sent meets a 404.
    receiver.answer = (message) => (message.id === first.id ? 404 : 204);
    t.emulator.state.failJob('idMapping', 'customer-id-map', jobId, 'stopped by the test');
    await until(async () => (await openCallbacks(t)) === 0);
    const third = await subscribe(t, (id) => receiver.urlOf(id), { jobId }, { headers });
    expect(third.status).toBe(200);
  });
});
