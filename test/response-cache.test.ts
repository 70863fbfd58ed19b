import { seededJobId } from '../src/emulator/seed';
import { newApiKey, writeTempFile } from './utils/auth';
import { ManualClock } from './utils/clock';
import { runningJob, startTestGateway, type TestGateway } from './utils/gateway';

/**
 * The response cache, with the final-job cache and the freshness window of
 * the JobStore off: whatever is executed reaches the emulator, so a request
 * that costs no upstream call was answered without executing.
 */
const finished = { workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 5) };
let running: { workflowName: string; jobId: string };
const jobQuery = ({ workflowName, jobId }: typeof finished) =>
  `{ idMappingJob(workflowName: "${workflowName}", jobId: "${jobId}") { status startTime endTime metrics { inputRecords totalRecordsProcessed } } }`;
const pageQuery = (workflowName: string, first: number) =>
  `{ idMappingJobs(workflowName: "${workflowName}", first: ${first}) { edges { cursor } nodes { jobId status metrics { inputRecords } } pageInfo { hasNextPage } } }`;

let t: TestGateway;
const clock = new ManualClock(0);

beforeAll(async () => {
  t = await startTestGateway({ env: { ER_RESPONSE_CACHE_MB: '8', ER_FRESHNESS_MS: '1000' }, now: clock.read });
  running = runningJob(t.emulator);
});

afterAll(() => t.close());

beforeEach(() => {
  clock.advance(3_600_000);
  t.emulator.resetRequests();
});

async function ask(query: string, headers: Record<string, string> = {}) {
  const res = await fetch(t.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query }),
  });
  return {
    body: (await res.json()) as { data?: unknown; errors?: unknown[] },
    age: res.headers.get('age'),
    cacheControl: res.headers.get('cache-control'),
  };
}

test('a finished job is answered again from the response cache, executing nothing', async () => {
  const first = await ask(jobQuery(finished));
  expect(first.body.errors).toBeUndefined();
  expect(first.cacheControl).toBe('max-age=3600, public');
  expect(t.emulator.requests()).toBe(1);
  const again = await ask(jobQuery(finished));
  expect(again.body).toEqual(first.body);
  expect(again.age).not.toBeNull();
  expect(again.cacheControl).toBe('max-age=3600, public');
  expect(t.emulator.requests()).toBe(1);
});

test('a running job is never answered from the response cache: each answer is at most the freshness window old', async () => {
  for (let i = 0; i < 3; i++) {
    const answer = await ask(jobQuery(running));
    expect(answer.body.errors).toBeUndefined();
    expect(answer.age).toBeNull();
    expect(answer.cacheControl).toBe('no-store');
    clock.advance(1001);
  }
  expect(t.emulator.requests('GetIdMappingJob')).toBe(3);
});

test('a page of finished jobs is reused within the freshness window, and read again after it', async () => {
  const first = await ask(pageQuery(finished.workflowName, 5));
  expect(first.body.errors).toBeUndefined();
  expect(first.cacheControl).toBe('max-age=1, public');
  const calls = t.emulator.requests();
  expect(t.emulator.requests('ListIdMappingJobs')).toBe(1);
  clock.advance(999);
  expect((await ask(pageQuery(finished.workflowName, 5))).body).toEqual(first.body);
  expect(t.emulator.requests()).toBe(calls);
  clock.advance(2);
  await ask(pageQuery(finished.workflowName, 5));
  expect(t.emulator.requests('ListIdMappingJobs')).toBe(2);
});

test('a page with a running job on it is not reused', async () => {
  const first = await ask(pageQuery(running.workflowName, 4));
  expect(first.body.errors).toBeUndefined();
  expect(JSON.stringify(first.body)).toContain('RUNNING');
  expect(first.cacheControl).toBe('no-store');
  await ask(pageQuery(running.workflowName, 4));
  expect(t.emulator.requests('ListIdMappingJobs')).toBe(2);
});

test('with auth on, answers are private, vary by credentials, and are reused only for the same principal', async () => {
  const [alice, bob] = [newApiKey(), newApiKey()];
  const authed = await startTestGateway({
    env: {
      ER_RESPONSE_CACHE_MB: '8',
      ER_AUTH: 'apikey',
      // Both keys have the same grants: only who they are keeps their answers apart.
      ER_API_KEYS: `alice:${alice.sha256},bob:${bob.sha256}`,
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [{ to: { apiKeys: ['alice', 'bob'] }, workflows: ['*'], actions: ['read'] }],
      }),
    },
    now: clock.read,
  });
  try {
    const askAs = async (key: string) => {
      const res = await fetch(authed.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify({ query: jobQuery(finished) }),
      });
      await res.json();
      return { age: res.headers.get('age'), cacheControl: res.headers.get('cache-control'), vary: res.headers.get('vary') };
    };
    const first = await askAs(alice.key);
    expect(first).toEqual({ age: null, cacheControl: 'max-age=3600, private', vary: 'Origin, Authorization, X-API-Key' });
    expect((await askAs(bob.key)).age).toBeNull();
    expect(authed.emulator.requests('GetIdMappingJob')).toBe(2);
    expect((await askAs(alice.key)).age).not.toBeNull();
    expect(authed.emulator.requests('GetIdMappingJob')).toBe(2);
  } finally {
    await authed.close();
  }
});

test('an answer with an error is not stored', async () => {
  const missing = { workflowName: finished.workflowName, jobId: '0'.repeat(32) };
  for (let i = 0; i < 2; i++) expect((await ask(jobQuery(missing))).body.errors).toHaveLength(1);
  expect(t.emulator.requests('GetIdMappingJob')).toBe(2);
});
