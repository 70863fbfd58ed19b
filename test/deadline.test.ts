import type { FormattedExecutionResult } from 'graphql';
import { seededJobId } from '../src/emulator/seed';
import { codes, startTestGateway } from './utils/gateway';
import { ManualScheduler } from './utils/scheduler';
import { wsClient } from './utils/subscriptions';
import { until } from './utils/wait';

/**
 * Request deadlines on a clock the test moves (the gateway's `timers`): a
 * deadline runs out when the test says, while the service holds a request.
 */

const job = (i: number) => `idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', i)}") { jobId status }`;

test('one deadline covers every retry: a field whose service keeps failing fails alone with UPSTREAM_UNAVAILABLE, and the rest is delivered', async () => {
  const timers = new ManualScheduler();
  const t = await startTestGateway({ timers, env: { ER_REQUEST_DEADLINE_MS: '1000', ER_FINAL_JOB_CACHE_SIZE: '100' } });
  await t.post(`{ ${job(1)} }`); // now cached: it needs no call
  // Every attempt fails with a 500; the second is held at the service while the deadline runs out.
  t.emulator.setFaults({ internalErrorRate: 1 });
  t.emulator.resetRequests();
  const [first, second] = [t.emulator.holdNext('GetIdMappingJob'), t.emulator.holdNext('GetIdMappingJob')];
  const answer = t.post(`{ cached: ${job(1)} failing: ${job(2)} }`);
  await first.arrived;
  await first.release();
  await second.arrived;
  await timers.advance(1000);
  const res = await answer;
  expect(res.data).toEqual({ cached: { jobId: seededJobId('customer-id-map', 1), status: expect.any(String) }, failing: null });
  expect(codes(res)).toEqual(['UPSTREAM_UNAVAILABLE']);
  expect(res.errors![0]).toMatchObject({ path: ['failing'], extensions: { reason: 'deadline' } });
  expect(res.errors![0].message).toMatch(/within the request's deadline of 1 s/);
  await second.release();
  // Answered while the second attempt was under way: the third was never sent.
  expect(t.emulator.requests('GetIdMappingJob')).toBe(2);
});

test('waits for the rate budget count against the deadline: calls whose turn comes after it are THROTTLED at once', async () => {
  const timers = new ManualScheduler();
  const t = await startTestGateway({
    timers,
    env: { ER_REQUEST_DEADLINE_MS: '1500', ER_RATE_PER_SECOND: '1', ER_RATE_MAX_WAIT_MS: '60000' },
  });
  const answer = t.post(`{ a: ${job(1)} b: ${job(2)} c: ${job(3)} d: ${job(4)} }`);
  // One call goes at once and the next waits its second; the third and fourth would wait 2 and 3 s, so they are refused before any time passes.
  const refusals = async () => (await t.gateway.metrics.rateRefusals.get()).values.reduce((sum, v) => sum + v.value, 0);
  await until(async () => (await refusals()) === 2);
  await timers.advance(1000);
  const res = await answer;
  expect(codes(res)).toEqual(['THROTTLED', 'THROTTLED']);
  expect(Object.values(res.data!).filter(Boolean)).toHaveLength(2);
  expect(t.emulator.requests('GetIdMappingJob')).toBe(2);
});

test('queries over websockets have the same deadline', async () => {
  const timers = new ManualScheduler();
  const t = await startTestGateway({ timers, env: { ER_REQUEST_DEADLINE_MS: '500' } });
  const held = t.emulator.holdNext('GetIdMappingJob');
  const client = wsClient(t.gateway.url);
  const result = new Promise<FormattedExecutionResult>((resolve, reject) =>
    client.subscribe({ query: `{ ${job(5)} }` }, { next: resolve, error: reject, complete: () => {} }),
  );
  await held.arrived;
  await timers.advance(500);
  expect((await result).errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', reason: 'deadline' });
  await held.release();
});
