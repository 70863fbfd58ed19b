import { Redis } from 'ioredis';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { leftover } from './leftovers';

/** A Redis of the test's own on `port`, with nothing saved to disk; resolves once it accepts connections. Stopped after the test if the test does not. */
export async function ownRedis(port: number): Promise<ChildProcess> {
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  leftover(() => stopRedis(server));
  await new Promise<void>((resolve) =>
    server.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('Ready to accept connections') && resolve()),
  );
  return server;
}

/** Stops `server` (SIGCONT first, in case a test left it stopped) and waits for it to exit. */
export async function stopRedis(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGCONT');
  server.kill('SIGKILL');
  await exited;
}

/** The Redis every test may share (127.0.0.1:6379); each writes under a prefix of its own (`sharedRedisPrefix`). */
export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379/0';

/** A key prefix of the test's own on the shared Redis, whose keys are deleted after the test (after the file, from beforeAll). */
export function sharedRedisPrefix(): string {
  const prefix = `er-gateway-test:${randomUUID()}:`;
  leftover(async () => {
    const redis = new Redis(SHARED_REDIS_URL);
    try {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });
  return prefix;
}
