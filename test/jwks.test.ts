import { startIssuer, writeTempFile, type JwksFault, type TestIssuer } from './utils/auth';
import { capturedLogger, codes, startTestGateway, type TestGateway } from './utils/gateway';
import { ManualScheduler } from './utils/scheduler';
import { wsClient } from './utils/subscriptions';

/**
 * The issuer's JWKS as it fails in production: slow, hung after its
 * headers, 5xx, or answering something that is not a key set. Each is the
 * gateway's trouble, not the token's: 503 with Retry-After within the
 * fetch timeout, never 401 and never a hang; the last good key set serves
 * through the grace period. The gateway's clock is a ManualScheduler (its
 * time starts at 0), so tokens carry `exp` on that clock.
 */

const POLICY = { grants: [{ to: { groups: ['analysts'] }, workflows: ['*'], actions: ['read', 'subscribe'] }] };
const WORKFLOW = `query { idMappingWorkflow(workflowName: "customer-id-map") { workflowName } }`;
const TIMEOUT_MS = 300;
const MINUTE = 60_000;

interface Setup {
  issuer: TestIssuer;
  g: TestGateway;
  scheduler: ManualScheduler;
  log: ReturnType<typeof capturedLogger>;
  bearer: Record<string, string>;
  token: string;
}
const started: Setup[] = [];

async function setup(env: Record<string, string> = {}): Promise<Setup> {
  const issuer = await startIssuer();
  const scheduler = new ManualScheduler();
  const log = capturedLogger('info');
  const g = await startTestGateway({
    scheduler,
    logger: log.logger,
    env: {
      ER_AUTH: 'jwt',
      ER_JWT_JWKS_URL: issuer.jwksUrl,
      ER_JWT_CLOCK_SKEW_S: '0',
      ER_JWT_JWKS_TIMEOUT_MS: String(TIMEOUT_MS),
      ER_POLICY_FILE: writeTempFile('policy.yaml', POLICY as never),
      ...env,
    },
  });
  // Valid for the scheduler's first 30 days.
  const token = await issuer.sign('ana', { groups: ['analysts'], exp: 30 * 86_400 });
  const s = { issuer, g, scheduler, log, token, bearer: { authorization: `Bearer ${token}` } };
  started.push(s);
  return s;
}

afterEach(async () => {
  for (const { g, issuer } of started.splice(0)) {
    await g.close();
    await issuer.close();
  }
});

/** A request with the token, and how long its answer took. */
async function timed(s: Setup) {
  const begun = performance.now();
  const res = await s.g.post(WORKFLOW, undefined, s.bearer);
  return { res, ms: performance.now() - begun };
}

const failedLines = (s: Setup) =>
  s.log.lines.filter((line) => line.level === 40 && String(line.msg).startsWith('JWT signing keys could not be fetched'));

describe.each<[string, JwksFault]>([
  ['sends its headers and then stalls', 'stall'],
  ['answers 500', 'error'],
  ['answers 200 with a body that is not JSON', 'garbage'],
])('a JWKS that %s', (_name, fault) => {
  test('is 503 with Retry-After within the timeout, logged once; once it serves again, the next request succeeds', async () => {
    const s = await setup();
    s.issuer.fail(fault);
    for (let i = 0; i < 3; i++) {
      const { res, ms } = await timed(s);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(codes(res)).toEqual(['UPSTREAM_UNAVAILABLE']);
      // Well within the 15 s and more a stalled body used to hold a request: the fetch's timeout, and some slack for a busy machine.
      expect(ms).toBeLessThan(TIMEOUT_MS + 2000);
      // Past the pause after a failed fetch, the next request fetches again.
      await s.scheduler.advance(1000);
    }
    expect(s.issuer.fetches).toBe(3);
    // The gateway gave up the stalled answers and closed their connections: none is waited on, nor reused.
    if (fault === 'stall') await s.issuer.stallsClosed();
    expect(failedLines(s)).toHaveLength(1);
    expect(s.g.emulator.requests()).toBe(0);

    s.issuer.fail(undefined);
    const { res } = await timed(s);
    expect(res.status).toBe(200);
    expect(res.data).toEqual({ idMappingWorkflow: { workflowName: 'customer-id-map' } });
    await s.log.line((line) => line.msg === 'JWT signing keys fetched again' && line.failures === 3);
  });
});

test('within the pause after a failed fetch, requests are answered 503 without another fetch', async () => {
  const s = await setup();
  s.issuer.fail('error');
  expect((await timed(s)).res.status).toBe(503);
  s.issuer.fail(undefined);
  expect((await timed(s)).res.status).toBe(503);
  expect(s.issuer.fetches).toBe(1);
  await s.scheduler.advance(1000);
  expect((await timed(s)).res.status).toBe(200);
  expect(s.issuer.fetches).toBe(2);
});

test('a websocket whose token cannot be checked is closed with 1013 (clients retry), not 4401', async () => {
  const s = await setup();
  s.issuer.fail('stall');
  let closed!: (event: { code: number; reason: string }) => void;
  const whenClosed = new Promise<{ code: number; reason: string }>((resolve) => (closed = resolve));
  const client = wsClient(s.g.gateway.url, { connectionParams: { authorization: `Bearer ${s.token}` }, onClosed: closed });
  const done = new Promise((resolve) =>
    client.subscribe({ query: WORKFLOW }, { next: () => undefined, error: resolve, complete: () => resolve(undefined) }),
  );
  expect(await whenClosed).toMatchObject({ code: 1013 });
  await done;
  await client.dispose();
});

describe('a withdrawn key', () => {
  test('a remembered token signed with a key the JWKS no longer publishes is refused once the key set is fetched again', async () => {
    const s = await setup();
    expect((await timed(s)).res.status).toBe(200);
    expect((await timed(s)).res.status).toBe(200);
    await s.issuer.rotate();
    s.issuer.withdrawOld();
    // Past the cooldown, a token naming the new key causes a fetch: the set now holds k2 only.
    await s.scheduler.advance(31_000);
    const rotated = await s.issuer.sign('ana', { groups: ['analysts'], exp: 30 * 86_400 });
    expect((await s.g.post(WORKFLOW, undefined, { authorization: `Bearer ${rotated}` })).status).toBe(200);
    expect(s.issuer.fetches).toBe(2);
    const fresh = await s.issuer.signWithdrawn('ana', { groups: ['analysts'], exp: 30 * 86_400 });
    expect((await s.g.post(WORKFLOW, undefined, { authorization: `Bearer ${fresh}` })).status).toBe(401);
    // The token remembered from before the fetch is checked anew against the new set, as a new one is.
    const remembered = await timed(s);
    expect(remembered.res.status).toBe(401);
    expect(remembered.res.headers.get('www-authenticate')).toContain('invalid_token');
  });
});

describe('the grace period', () => {
  test('after a good fetch, a failing JWKS leaves the last key set in use for the grace past its ten minutes; 503 after', async () => {
    const s = await setup({ ER_JWT_JWKS_GRACE_MS: String(5 * MINUTE) });
    expect((await timed(s)).res.status).toBe(200);
    expect(s.issuer.fetches).toBe(1);
    s.issuer.fail('stall');

    // Ten minutes on, the key set is stale: the request is answered from it at once, and a fetch goes beside it.
    await s.scheduler.advance(10 * MINUTE);
    const stale = await timed(s);
    expect(stale.res.status).toBe(200);
    expect(stale.ms).toBeLessThan(TIMEOUT_MS);
    const warned = await s.log.line((line) => line.level === 40 && String(line.msg).includes('checked against the last key set'));
    expect(warned.reason).toBe(`no whole answer within ${TIMEOUT_MS} ms`);

    for (const minutes of [1, 2, 1.9]) {
      await s.scheduler.advance(minutes * MINUTE);
      expect((await timed(s)).res.status).toBe(200);
    }
    expect(failedLines(s)).toHaveLength(1);

    // Fifteen minutes after the good fetch, the grace is over.
    await s.scheduler.advance(0.1 * MINUTE);
    const over = await timed(s);
    expect(over.res.status).toBe(503);
    expect(over.res.headers.get('retry-after')).toBe('5');
    await s.log.line((line) => line.level === 40 && String(line.msg).includes('past its grace'));
    await s.issuer.stallsClosed();

    s.issuer.fail(undefined);
    await s.scheduler.advance(1000);
    expect((await timed(s)).res.status).toBe(200);
  });

  test('with ER_JWT_JWKS_GRACE_MS=0, a key set past its ten minutes that cannot be fetched again is 503 at once', async () => {
    const s = await setup({ ER_JWT_JWKS_GRACE_MS: '0' });
    expect((await timed(s)).res.status).toBe(200);
    s.issuer.fail('error');
    await s.scheduler.advance(10 * MINUTE);
    expect((await timed(s)).res.status).toBe(503);
  });
});
