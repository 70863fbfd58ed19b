import { randomBytes } from 'node:crypto';
import { print } from 'graphql';
import { IdMappingJobUpdatedDocument, type IdMappingJobUpdatedSubscription } from '../generated/graphql';
import { runningJob, startTestGateway } from '../utils/gateway';
import { Subscription, wsClient } from '../utils/subscriptions';

/**
 * One address floods the gateway with queries for jobs that do not exist,
 * under the rate governor's default budget (5 calls per second per
 * operation), while another client watches a running job: the job's polls
 * draw on the same GetIdMappingJob budget, and keep their share of it. (That
 * a poll held past two intervals sends `stale: true` is shown on the manual
 * scheduler in subscriptions.test.ts.)
 */

const FLOODERS = 30;
const unknownJob = () => `{ idMappingJob(workflowName: "customer-id-map", jobId: "${randomBytes(16).toString('hex')}") { status } }`;

test("a flood of unknown-job queries from one address does not stop a watched job's polls", async () => {
  let watchedId = '';
  const answers = { polls: 0, flood: 0 };
  let waiters: (() => void)[] = [];
  const t = await startTestGateway({
    emulator: {
      onAnswer: (operation, target, status) => {
        if (operation !== 'GetIdMappingJob') return;
        if (target.jobId === watchedId) answers.polls++;
        else if (status === 404) answers.flood++;
        const waiting = waiters;
        waiters = [];
        for (const wake of waiting) wake();
      },
    },
    env: { ER_RATE_PER_SECOND: '5', ER_TRUST_PROXY: 'loopback', ER_POLL_INTERVAL_MS: '500' },
  });
  const until = async (condition: () => boolean) => {
    while (!condition()) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  const client = wsClient(t.gateway.url);
  let flooding = true;
  try {
    const job = runningJob(t.emulator);
    watchedId = job.jobId;
    const sub = new Subscription<IdMappingJobUpdatedSubscription>(client, print(IdMappingJobUpdatedDocument), job);
    await sub.event(1);

    const flood = Array.from({ length: FLOODERS }, async () => {
      while (flooding) await t.post(unknownJob(), undefined, { 'x-forwarded-for': '10.0.0.66' });
    });
    // Measured once the flood holds the budget: the next 40 calls it gets through, and the polls between them.
    await until(() => answers.flood >= 5);
    const from = { ...answers };
    await until(() => answers.flood - from.flood >= 40);
    const polls = answers.polls - from.polls;
    flooding = false;
    await Promise.all(flood);

    // 40 flood calls at 5 per second take 8 s, sixteen poll intervals; the poll share (one token in five) is room for 8 polls. Without it, none.
    expect(polls).toBeGreaterThanOrEqual(5);
    expect(sub.failure).toBeUndefined();
    expect(sub.completed).toBe(false);
    sub.unsubscribe();
  } finally {
    flooding = false;
    await client.dispose();
    await t.close();
  }
});
