import { print } from 'graphql';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { IdMappingJobUpdatedDocument, StartIdMappingJobDocument } from './generated/graphql';
import { ManualClock } from './utils/clock';
import { capturedLogger, startTestGateway, type TestGateway } from './utils/gateway';
import { ManualScheduler } from './utils/scheduler';
import { RawSocket, Subscription, wsClient } from './utils/subscriptions';
import { until } from './utils/wait';

const UPDATES = print(IdMappingJobUpdatedDocument);

/** Heap in use after a full collection. */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

/** Starts a job and moves the emulator's clock past its QUEUED phase: each millisecond after changes its counts. */
async function runningJob(t: TestGateway, clock: ManualClock): Promise<{ workflowName: string; jobId: string }> {
  const { data } = await t.execute(StartIdMappingJobDocument, { input: { workflowName: 'customer-id-map' } });
  clock.advance(3000);
  return { workflowName: 'customer-id-map', jobId: data!.startIdMappingJob.jobId };
}

/** Runs `polls` polls, each after the job moved on by `stepMs`, so each publishes a new state. */
async function poll(scheduler: ManualScheduler, clock: ManualClock, polls: number, stepMs = 5): Promise<void> {
  for (let i = 0; i < polls; i++) {
    clock.advance(stepMs);
    await scheduler.runNext();
  }
}

/**
 * The gateway dropped `socket`, which had stopped reading: once it reads
 * again (after `meanwhile`, if given) it sees the connection cut (1006), and
 * the gateway logged one info line for it with `detail` and counted it under
 * `reason`.
 */
async function expectDroppedOnce(
  t: TestGateway,
  socket: RawSocket,
  log: ReturnType<typeof capturedLogger>,
  reason: string,
  detail: Record<string, unknown>,
  meanwhile?: () => Promise<void>,
): Promise<void> {
  await log.line((l) => l.msg === 'websocket client dropped');
  await meanwhile?.();
  socket.resume();
  expect((await socket.closed).code).toBe(1006);
  expect(log.lines.filter((l) => l.msg === 'websocket client dropped')).toEqual([
    expect.objectContaining({ level: 30, reason, ...detail }),
  ]);
  expect((await t.gateway.metrics.droppedSockets.get()).values).toEqual([expect.objectContaining({ labels: { reason }, value: 1 })]);
}

test('a subscriber that stops taking events holds at most ER_SUBSCRIBER_QUEUE of them, then skips to the latest state', async () => {
  const clock = new ManualClock();
  const scheduler = new ManualScheduler();
  const t = await startTestGateway({ emulator: { clock: clock.read }, scheduler, env: { ER_SUBSCRIBER_QUEUE: '8' } });
  try {
    const key = await runningJob(t, clock);
    const stream = await t.gateway.watcher.subscribe('idMapping', key);
    await stream.next();
    // The old pub/sub threw RepeaterOverflowError past 1,024 events waiting for one subscriber.
    await poll(scheduler, clock, 1500);
    const latest = await t.gateway.watcher.subscribe('idMapping', key).then((s) => s.next());

    const taken = [];
    for (;;) {
      const { value } = await stream.next();
      taken.push(value);
      if (JSON.stringify(value) === JSON.stringify(latest.value)) break;
    }
    expect(taken.length).toBeLessThanOrEqual(8);
    expect((await t.gateway.metrics.skippedEvents.get()).values[0].value).toBeGreaterThanOrEqual(1500 - 8);
    await stream.return!();
  } finally {
    await t.close();
  }
});

test('clients that never read or read slowly cannot bring the gateway down, and their backlog stays bounded', async () => {
  const clock = new ManualClock();
  const scheduler = new ManualScheduler();
  // Keep-alive off and a generous buffer limit: only the per-subscription bound stands between them and the heap.
  const t = await startTestGateway({
    emulator: { clock: clock.read },
    scheduler,
    env: { ER_SUBSCRIBER_QUEUE: '4', ER_WS_KEEPALIVE_MS: '0', ER_WS_MAX_BUFFERED_BYTES: String(256 * 1024 * 1024) },
  });
  const honest = wsClient(t.gateway.url);
  const [silent, slow] = await Promise.all([RawSocket.open(t.gateway.url), RawSocket.open(t.gateway.url)]);
  try {
    const key = await runningJob(t, clock);
    const watching = new Subscription(honest, UPDATES, key);
    for (let i = 0; i < 20; i++) {
      silent.subscribe(`s${i}`, UPDATES, key);
      slow.subscribe(`s${i}`, UPDATES, key);
    }
    await slow.until(() => slow.results('s19').length > 0);
    silent.pause();
    await watching.event(1);
    const heapBefore = heapAfterGc();

    for (let round = 0; round < 12; round++) {
      slow.pause();
      await poll(scheduler, clock, 100);
      slow.resume();
    }
    clock.advance(20_000);
    await scheduler.runNext();

    await watching.ended();
    expect(watching.events.at(-1)!.data).toMatchObject({ idMappingJobUpdated: { status: 'SUCCEEDED' } });
    await slow.until(() =>
      Array.from({ length: 20 }, (_, i) => slow.messages.some((m) => m.id === `s${i}` && m.type === 'complete')).every(Boolean),
    );
    for (let i = 0; i < 20; i++) {
      const results = slow.results(`s${i}`);
      expect(results.at(-1)!.data).toMatchObject({ idMappingJobUpdated: { status: 'SUCCEEDED' } });
      // 1,201 states were published; the slow reader skipped most of them rather than queueing them.
      expect(results.length).toBeLessThan(1201);
    }
    expect((await t.gateway.metrics.skippedEvents.get()).values[0].value).toBeGreaterThan(1000);
    expect(heapAfterGc() - heapBefore).toBeLessThan(32 * 1024 * 1024);
    expect((await t.post('{ __typename }')).data).toEqual({ __typename: 'Query' });
  } finally {
    silent.close();
    slow.close();
    await honest.dispose();
    await t.close();
  }
});

test('a socket whose unsent output passes ER_WS_MAX_BUFFERED_BYTES is closed with 1013 and one info line', async () => {
  const log = capturedLogger();
  const timers = new ManualScheduler();
  const t = await startTestGateway({
    logger: log.logger,
    timers,
    env: { ER_WS_MAX_BUFFERED_BYTES: String(64 * 1024), ER_FINAL_JOB_CACHE_SIZE: '100', ER_WS_MESSAGES_PER_SECOND: '100000' },
  });
  const socket = await RawSocket.open(t.gateway.url);
  const consoleError = jest.spyOn(console, 'error');
  try {
    const fields =
      'jobId status startTime endTime observedAt metrics { inputRecords totalRecordsProcessed totalMappedRecords } outputSourceConfig { roleArn outputS3Path }';
    const job = (
      await t.post<{ idMappingJobs: { nodes: { jobId: string }[] } }>(
        '{ idMappingJobs(workflowName: "customer-id-map", first: 1) { nodes { jobId } } }',
      )
    ).data!.idMappingJobs.nodes[0];
    const aliases = Array.from(
      { length: 50 },
      (_, i) => `a${i}: idMappingJob(workflowName: "customer-id-map", jobId: "${job.jobId}") { ${fields} }`,
    );
    socket.pause();
    // Each answer is about 20 kB; a client that reads none of them backs up the kernel's buffers, then the gateway's.
    for (let i = 0; i < 2000; i++) socket.subscribe(`q${i}`, `{ ${aliases.join(' ')} }`);
    // The close frame queued behind all that output; the gateway cuts the connection once the client's second of grace is up.
    await expectDroppedOnce(t, socket, log, 'slow_consumer', { limitBytes: 64 * 1024 }, () => timers.advance(1000));
    expect(log.lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
    expect(consoleError).not.toHaveBeenCalled();
  } finally {
    consoleError.mockRestore();
    socket.close();
    await t.close();
  }
});

test('a client that stops answering pings is dropped with one info line, and its open subscriptions log no errors', async () => {
  const clock = new ManualClock();
  const timers = new ManualScheduler();
  const log = capturedLogger();
  const t = await startTestGateway({ logger: log.logger, emulator: { clock: clock.read }, timers, env: { ER_WS_KEEPALIVE_MS: '100' } });
  const socket = await RawSocket.open(t.gateway.url);
  const consoleError = jest.spyOn(console, 'error');
  try {
    const key = await runningJob(t, clock);
    for (let i = 0; i < 20; i++) socket.subscribe(`s${i}`, UPDATES, key);
    await socket.until(() => socket.results('s19').length > 0);
    socket.pause();
    // One sweep pings the socket, which reads nothing now; the next finds the ping unanswered.
    await timers.advance(100);
    expect(log.lines.filter((l) => l.msg === 'websocket client dropped')).toEqual([]);
    await timers.advance(100);
    await expectDroppedOnce(t, socket, log, 'keepalive', { keepAliveMs: 100 });
    await until(() => t.gateway.watcher.watchedJobs === 0);
    expect(log.lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
    expect(consoleError).not.toHaveBeenCalled();
  } finally {
    consoleError.mockRestore();
    socket.close();
    await t.close();
  }
});
