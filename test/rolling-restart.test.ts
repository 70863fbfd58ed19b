import type { Emulator } from '../src/emulator/http';
import { localCredentials, startTestEmulator } from './utils/gateway';
import { SHARED_REDIS_URL, sharedRedisPrefix } from './utils/redis';
import { rollingRestart, type RollingRun } from './utils/rolling';

/**
 * A rolling restart under load through a real load balancer (HAProxy from
 * Debian's packages, health checks on /readyz every 400 ms, a server down
 * after 2 failures): see test/utils/rolling.ts. The figures of both runs,
 * and with HAProxy's `option redispatch`, are `npm run bench`'s
 * (BENCH_ONLY=rolling).
 */

let emulator: Emulator;

beforeAll(async () => {
  emulator = await startTestEmulator();
  localCredentials();
});

function expectEverySubscriberEndedOnce(run: RollingRun): void {
  for (const subscriber of run.subscribers) {
    expect(subscriber.failure).toBeUndefined();
    expect(subscriber.completed).toBe(true);
    // The current state at each (re)subscription, RUNNING, then the one change: SUCCEEDED, once, and nothing else.
    const running = subscriber.statuses.filter((status) => status === 'RUNNING').length;
    expect({ transport: subscriber.transport, statuses: subscriber.statuses }).toEqual({
      transport: subscriber.transport,
      statuses: [...Array<string>(running).fill('RUNNING'), 'SUCCEEDED'],
    });
    if (subscriber.reconnects > 0) expect(running).toBeGreaterThan(1);
  }
}

test('a rolling restart behind HAProxy with the shutdown delay: no query fails, and each of 200 subscribers reconnects, gets the current state first and sees SUCCEEDED exactly once', async () => {
  const run = await rollingRestart({
    emulator,
    redisUrl: SHARED_REDIS_URL,
    prefix: sharedRedisPrefix(),
    delayMs: 2500,
    wsSubscribers: 150,
    sseSubscribers: 50,
    queryWorkers: 8,
  });
  expect(run.failures).toEqual([]);
  expect(run.succeeded).toBeGreaterThan(100);
  expect(run.exits).toEqual([0, 0]);
  // Both replicas held subscribers when they stopped: they moved, and came back to the current state.
  expect(run.subscribers.filter((s) => s.reconnects > 0).length).toBeGreaterThan(0);
  expectEverySubscriberEndedOnce(run);
}, 120_000);

test('the same restart with ER_SHUTDOWN_DELAY_MS=0: queries HAProxy still sends to the stopped replica before its checks fail are lost', async () => {
  const run = await rollingRestart({
    emulator,
    redisUrl: SHARED_REDIS_URL,
    prefix: sharedRedisPrefix(),
    delayMs: 0,
    wsSubscribers: 15,
    sseSubscribers: 5,
    queryWorkers: 8,
    restart: ['g1'],
  });
  expect(run.failures.length).toBeGreaterThan(0);
  expect(run.exits).toEqual([0]);
  // Subscribers reconnect either way: the delay is for requests and connections that arrive meanwhile.
  expectEverySubscriberEndedOnce(run);
}, 120_000);
