import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallbackReceiver } from './utils/callback-receiver';
import { newApiKey, startIssuer, writeTempFile } from './utils/auth';
import { startGatewayProcess, type GatewayProcess } from './utils/process';
import { RawSocket } from './utils/subscriptions';

/**
 * "A presented key is never kept, not even for the next request"
 * (docs/operators/securing.md). The gateway runs in a process of its own, so
 * that its heap holds only what it kept; a heap snapshot (which collects
 * garbage first) is searched for the key's text. The test process holds the
 * key too, which is why the gateway is not in it.
 */

/** The strings of the gateway's heap, as a snapshot written on SIGUSR2 has them; the snapshot is done once the gateway answers again. */
async function heapOf(gateway: GatewayProcess, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  gateway.child.kill('SIGUSR2');
  let written: string | undefined;
  while (!(written = readdirSync(dir).find((name) => !before.has(name) && name.endsWith('.heapsnapshot')))) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // The snapshot is written on the main thread: an answer comes once it is whole.
  await (await fetch(`${gateway.metricsUrl}/metrics`)).text();
  return readFileSync(join(dir, written), 'utf8');
}

test("an API key or a token sent in a websocket's connection_init is not kept for the socket's life; the socket still serves", async () => {
  const key = newApiKey();
  const issuer = await startIssuer();
  const token = await issuer.sign('ana', { groups: ['analysts'] });
  const dir = mkdtempSync(join(tmpdir(), 'er-heap-'));
  const gateway = await startGatewayProcess(
    {
      ER_AUTH: 'jwt,apikey',
      ER_JWT_JWKS_URL: issuer.jwksUrl,
      ER_API_KEYS: `etl:${key.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [
          { to: { apiKeys: ['etl'] }, workflows: ['*'], actions: ['read', 'subscribe'] },
          { to: { groups: ['analysts'] }, workflows: ['*'], actions: ['read', 'subscribe'] },
        ],
      }),
      ER_RESPONSE_CACHE_MB: '0',
    },
    [
      process.execPath,
      '--heapsnapshot-signal=SIGUSR2',
      `--diagnostic-dir=${dir}`,
      '-r',
      'ts-node/register/transpile-only',
      'src/server/main.ts',
    ],
  );
  try {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const sockets = [
      await RawSocket.open(gateway.url, { payload: { 'X-API-Key': key.key, traceparent } }),
      // A token's socket arms a timer at its expiry.
      await RawSocket.open(gateway.url, { payload: { Authorization: `Bearer ${token}`, traceparent } }),
    ];
    const heap = await heapOf(gateway, dir);
    // Not `not.toContain`: its message would print the whole heap. A token by its signature, which nothing else holds.
    expect({ key: heap.includes(key.key), token: heap.includes(token.slice(token.lastIndexOf('.') + 1)) }).toEqual({
      key: false,
      token: false,
    });
    // The sockets authenticated with them still serve.
    for (const socket of sockets) {
      socket.subscribe('1', 'query { __typename }');
      expect(await socket.message('next')).toMatchObject({ id: '1', payload: { data: { __typename: 'Query' } } });
      socket.close();
    }
  } finally {
    gateway.child.kill('SIGTERM');
    await gateway.exited;
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

test("an API key sent with an HTTP request is not kept once answered, nor for an event stream's life while it streams", async () => {
  const [starter, streamer] = [newApiKey(), newApiKey()];
  const dir = mkdtempSync(join(tmpdir(), 'er-heap-'));
  const gateway = await startGatewayProcess(
    {
      ER_AUTH: 'apikey',
      ER_API_KEYS: `starter:${starter.sha256},streamer:${streamer.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [{ to: { apiKeys: ['starter', 'streamer'] }, workflows: ['*'], actions: ['read', 'start', 'subscribe'] }],
      }),
      ER_RESPONSE_CACHE_MB: '0',
      // The job runs while the stream is open.
      ER_EMULATOR_JOB_SECONDS: '600',
    },
    [
      process.execPath,
      '--heapsnapshot-signal=SIGUSR2',
      `--diagnostic-dir=${dir}`,
      '-r',
      'ts-node/register/transpile-only',
      'src/server/main.ts',
    ],
  );
  const stream = new AbortController();
  try {
    const started = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': starter.key },
      body: JSON.stringify({ query: 'mutation { startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } }' }),
    });
    const { data } = (await started.json()) as { data: { startMatchingJob: { jobId: string } } };
    const res = await fetch(`${gateway.url}/graphql/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-api-key': streamer.key },
      body: JSON.stringify({
        query: 'subscription ($j: ID!) { matchingJobUpdated(workflowName: "customer-matching", jobId: $j) { status } }',
        variables: { j: data.startMatchingJob.jobId },
      }),
      signal: stream.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('"status"')) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`the stream ended before an event: ${text}`);
      text += new TextDecoder().decode(value);
    }
    const heap = await heapOf(gateway, dir);
    expect({ answered: heap.includes(starter.key), streaming: heap.includes(streamer.key) }).toEqual({ answered: false, streaming: false });
  } finally {
    stream.abort();
    gateway.child.kill('SIGTERM');
    await gateway.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

test("an API key a router forwards with a callback subscription is not kept for the subscription's life", async () => {
  const key = newApiKey();
  const receiver = await CallbackReceiver.start();
  const dir = mkdtempSync(join(tmpdir(), 'er-heap-'));
  const gateway = await startGatewayProcess(
    {
      ER_AUTH: 'apikey',
      ER_API_KEYS: `router:${key.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [{ to: { apiKeys: ['router'] }, workflows: ['*'], actions: ['read', 'start', 'subscribe'] }],
      }),
      ER_RESPONSE_CACHE_MB: '0',
      ER_EMULATOR_JOB_SECONDS: '600',
      ER_CALLBACK_URL_ALLOW: receiver.url,
    },
    [
      process.execPath,
      '--heapsnapshot-signal=SIGUSR2',
      `--diagnostic-dir=${dir}`,
      '-r',
      'ts-node/register/transpile-only',
      'src/server/main.ts',
    ],
  );
  try {
    const post = async (body: object) =>
      (await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key.key },
        body: JSON.stringify(body),
      }).then((res) => res.json())) as { data: Record<string, { jobId: string }> | null; errors?: unknown };
    const { data } = await post({ query: 'mutation { startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } }' });
    const id = randomUUID();
    const answer = await post({
      query: 'subscription ($j: ID!) { matchingJobUpdated(workflowName: "customer-matching", jobId: $j) { status } }',
      variables: { j: data!.startMatchingJob.jobId },
      extensions: { subscription: { callbackUrl: receiver.urlOf(id), subscriptionId: id, verifier: 'v', heartbeatIntervalMs: 0 } },
    });
    expect(answer).toEqual({ data: null });
    while (!receiver.actions(id).includes('next')) await once(receiver, 'message');
    const heap = await heapOf(gateway, dir);
    expect(heap.includes(key.key)).toBe(false);
  } finally {
    gateway.child.kill('SIGTERM');
    await gateway.exited;
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
