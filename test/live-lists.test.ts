import type { Client } from 'graphql-ws';
import { ManualClock } from './utils/clock';
import { startTestGateway, type TestGateway } from './utils/gateway';
import { ManualScheduler } from './utils/scheduler';
import { Subscription, wsClient } from './utils/subscriptions';

/** Live lists: a workflow's newest jobs, again whenever one appears or changes status; one List poll per interval, however many subscribe. */

const INTERVAL = 1000;
const clock = new ManualClock();
const scheduler = new ManualScheduler();
let t: TestGateway;
let clients: Client[];

beforeAll(async () => {
  t = await startTestGateway({ emulator: { clock: clock.read }, scheduler, env: { ER_POLL_INTERVAL_MS: String(INTERVAL) } });
  clients = [wsClient(t.gateway.url), wsClient(t.gateway.url)];
});

afterAll(async () => {
  await Promise.all(clients.map(async (client) => client.dispose()));
  await t.close();
});

type ListEvent = { idMappingJobsChanged: { id: string; jobId: string; status: string }[] };
const LIST = 'subscription { idMappingJobsChanged(workflowName: "customer-id-map", first: 5) { id jobId status } }';

test('100 subscribers of one list cost one List call per interval, and a job started elsewhere appears in all of them', async () => {
  const subs = Array.from({ length: 100 }, (_, i) => new Subscription<ListEvent>(clients[i % 2], LIST));
  await Promise.all(subs.map((sub) => sub.event(1)));
  const first = subs[0].events[0].data!.idMappingJobsChanged;
  expect(first).toHaveLength(5);
  for (const sub of subs) expect(sub.events[0].data!.idMappingJobsChanged).toEqual(first);
  expect(t.emulator.requests('ListIdMappingJobs')).toBe(1);

  // Nothing changes: polls go on, one per interval for all 100, and nobody gets an event.
  for (let i = 0; i < 3; i++) await scheduler.runNext();
  expect(t.emulator.requests('ListIdMappingJobs')).toBe(4);
  expect(subs.every((sub) => sub.events.length === 1)).toBe(true);

  // Another client starts a job: the next poll shows it, newest first, to every subscriber.
  const started = await t.post<{ startIdMappingJob: { jobId: string } }>(
    'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }',
  );
  await scheduler.runNext();
  await Promise.all(subs.map((sub) => sub.event(2)));
  for (const sub of subs) {
    const jobs = sub.events[1].data!.idMappingJobsChanged;
    expect(jobs[0]).toMatchObject({ jobId: started.data!.startIdMappingJob.jobId, status: 'QUEUED' });
    expect(jobs.slice(1)).toEqual(first.slice(0, 4));
  }
  expect(t.emulator.requests('ListIdMappingJobs')).toBe(5);

  for (const sub of subs) sub.unsubscribe();
  while (scheduler.pending > 0) await new Promise((resolve) => setImmediate(resolve));
});

test('first outside 1 to 25 is BAD_USER_INPUT, before any call', async () => {
  const before = t.emulator.requests();
  const sub = new Subscription<ListEvent>(
    clients[0],
    'subscription { idMappingJobsChanged(workflowName: "customer-id-map", first: 26) { id } }',
  );
  await sub.ended();
  expect(sub.events[0].errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  expect(t.emulator.requests()).toBe(before);
});
