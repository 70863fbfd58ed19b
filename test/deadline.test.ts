import type { FormattedExecutionResult } from 'graphql';
import { seededJobId } from '../src/emulator/seed';
import { codes, startTestGateway } from './utils/gateway';
import { wsClient } from './utils/subscriptions';

const job = (i: number) => `idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', i)}") { jobId status }`;

test('one deadline covers every retry: a field whose service keeps failing slowly fails alone with UPSTREAM_UNAVAILABLE, and the rest is delivered', async () => {
  const t = await startTestGateway({ env: { ER_REQUEST_DEADLINE_MS: '1000', ER_FINAL_JOB_CACHE_SIZE: '100' } });
  try {
    await t.post(`{ ${job(1)} }`); // now cached: it needs no call
    // Each attempt takes 600 ms and fails with a 500: the SDK's three attempts and their backoff need about two seconds.
    t.emulator.setFaults({ latencyMs: 600, internalErrorRate: 1 });
    t.emulator.resetRequests();
    const res = await t.post(`{ cached: ${job(1)} failing: ${job(2)} }`);
    expect(res.data).toEqual({ cached: { jobId: seededJobId('customer-id-map', 1), status: expect.any(String) }, failing: null });
    expect(codes(res)).toEqual(['UPSTREAM_UNAVAILABLE']);
    expect(res.errors![0]).toMatchObject({ path: ['failing'], extensions: { reason: 'deadline' } });
    expect(res.errors![0].message).toMatch(/within the request's deadline of 1 s/);
    // Answered when the second attempt was under way: the third was never sent.
    expect(t.emulator.requests('GetIdMappingJob')).toBe(2);
  } finally {
    await t.close();
  }
});

test("waits for the rate budget count against the deadline: calls whose turn comes after it are THROTTLED at once", async () => {
  const t = await startTestGateway({ env: { ER_REQUEST_DEADLINE_MS: '1500', ER_RATE_PER_SECOND: '1', ER_RATE_MAX_WAIT_MS: '60000' } });
  try {
    const res = await t.post(`{ a: ${job(1)} b: ${job(2)} c: ${job(3)} d: ${job(4)} }`);
    // One call goes at once, the next a second later; the third and fourth would wait 2 and 3 s.
    expect(codes(res)).toEqual(['THROTTLED', 'THROTTLED']);
    expect(Object.values(res.data!).filter(Boolean)).toHaveLength(2);
    expect(t.emulator.requests('GetIdMappingJob')).toBe(2);
  } finally {
    await t.close();
  }
});

test('queries over websockets have the same deadline', async () => {
  const t = await startTestGateway({ env: { ER_REQUEST_DEADLINE_MS: '500' } });
  const client = wsClient(t.gateway.url);
  try {
    t.emulator.setFaults({ latencyMs: 3000 });
    const result = await new Promise<FormattedExecutionResult>((resolve, reject) =>
      client.subscribe({ query: `{ ${job(5)} }` }, { next: resolve, error: reject, complete: () => {} }),
    );
    expect(result.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', reason: 'deadline' });
  } finally {
    await client.dispose();
    await t.close();
  }
});
