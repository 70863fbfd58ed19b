import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { startEmulator } from '../../src/emulator/http';
import { rollingRestart, type RollingRun } from '../utils/rolling';

const REDIS_URL = 'redis://127.0.0.1:6379/0';

/**
 * The rolling restart of test/rolling-restart.test.ts measured: two
 * replicas behind HAProxy (checks on /readyz every 400 ms, down after 2
 * failures), 8 queries in flight at all times, 150 websocket and 50 SSE
 * subscribers; each replica restarted in turn, with the shutdown delay and
 * without it, and with HAProxy's `option redispatch` off (its default) and on.
 */
export async function rolling(): Promise<void> {
  process.env.AWS_ACCESS_KEY_ID ??= 'local';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local';
  const emulator = await startEmulator();
  console.log(
    '\nrolling restart: 2 replicas behind HAProxy, 8 queries in flight, 150 websocket + 50 SSE subscribers, each replica restarted in turn',
  );
  console.log(
    '| ER_SHUTDOWN_DELAY_MS | HAProxy option redispatch | queries answered | queries failed | failures | in flight at SIGTERM | down in HAProxy after SIGTERM (ms) | exit after SIGTERM (ms) | subscribers with SUCCEEDED once | reconnect attempts |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  try {
    for (const [delayMs, redispatch] of [
      [2500, false],
      [0, false],
      [0, true],
    ] as const) {
      const prefix = `er-gateway-bench:${randomUUID()}:`;
      let run: RollingRun;
      try {
        run = await rollingRestart({
          emulator,
          redisUrl: REDIS_URL,
          prefix,
          delayMs,
          redispatch,
          wsSubscribers: 150,
          sseSubscribers: 50,
          queryWorkers: 8,
        });
      } finally {
        const redis = new Redis(REDIS_URL);
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
        redis.disconnect();
      }
      const kindOf = (failure: string) => failure.split(' (')[0];
      const kinds = [...new Set(run.failures.map(kindOf))]
        .map((kind) => `${kind} × ${run.failures.filter((f) => kindOf(f) === kind).length}`)
        .join(', ');
      const once = run.subscribers.filter((s) => s.completed && s.statuses.filter((status) => status === 'SUCCEEDED').length === 1).length;
      console.log(
        `| ${delayMs} | ${redispatch ? 'on' : 'off'} | ${run.succeeded + run.failures.length} | ${run.failures.length} | ${kinds || '—'} | ${run.inFlightAtSignal.join(', ')} | ${run.downAfterMs.map(Math.round).join(', ')} | ${run.exitAfterMs.map(Math.round).join(', ')} | ${once} of ${run.subscribers.length} | ${run.subscribers.reduce((n, s) => n + s.reconnects, 0)} |`,
      );
    }
  } finally {
    await emulator.close();
  }
}
