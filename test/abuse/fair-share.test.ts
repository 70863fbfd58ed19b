import { seededJobId } from '../../src/emulator/seed';
import { startTestGateway } from '../utils/gateway';
import { until } from '../utils/wait';

/**
 * One client's burst against everyone else's queries, under the rate
 * governor's default budget (5 calls per second per operation). Clients are
 * told apart by address, forwarded by a trusted proxy on loopback.
 */

const BURST = `{ idMappingJobs(workflowName: "customer-id-map", first: 100) { nodes { jobId metrics { inputRecords } } } }`;
const single = (i: number) => `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', i)}") { status } }`;

test("one client's burst does not throttle another client's single-job query", async () => {
  const t = await startTestGateway({
    env: { ER_RATE_PER_SECOND: '5', ER_TRUST_PROXY: 'loopback' },
  });
  try {
    const from = (address: string) => ({ 'x-forwarded-for': address });
    const bursts = [t.post(BURST, undefined, from('10.0.0.66')), t.post(BURST, undefined, from('10.0.0.66'))];
    // The burst's Gets are queued at the governor once the first of them has gone out.
    await until(() => t.emulator.requests('GetIdMappingJob') > 0);
    const honest = await Promise.all([1, 2, 3].map((i) => t.post(single(i), undefined, from(`10.0.1.${i}`))));
    expect(honest.map((res) => [res.errors, res.data])).toEqual(
      [1, 2, 3].map(() => [undefined, { idMappingJob: { status: expect.any(String) } }]),
    );
    // The burst got what fit its share: THROTTLED at once past it, and a deadline's UPSTREAM_UNAVAILABLE for calls others' turns pushed past theirs.
    const burst = await Promise.all(bursts);
    const burstCodes = new Set(burst.flatMap((res) => res.errors ?? []).map((error) => error.extensions?.code));
    expect(burstCodes).toContain('THROTTLED');
    expect([...burstCodes].filter((code) => code !== 'THROTTLED' && code !== 'UPSTREAM_UNAVAILABLE')).toEqual([]);
  } finally {
    await t.close();
  }
});
