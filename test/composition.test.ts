import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { startGateway } from '../src/server/app';
import { loadConfig } from '../src/server/config';
import { ListenError } from '../src/server/listen';
import { awsBackendEnv, closedPort } from './utils/gateway';
import { ownRedis, stopRedis } from './utils/redis';
import { ManualScheduler } from './utils/scheduler';

/**
 * The gateway is a composition root: every part it starts is pushed on one
 * stack, and a start-up that fails late (here at the metrics port, the last
 * step, after Redis, the SDK clients, the watchers, Apollo and the service
 * port are up) tears down everything it built before the error reaches the
 * caller.
 */

let redisPort: number;
let redis: ChildProcess;
let inspector: Redis;
let taken: Server;
let takenPort: number;

beforeAll(async () => {
  redisPort = await closedPort();
  redis = await ownRedis(redisPort);
  inspector = new Redis({ port: redisPort, host: '127.0.0.1' });
  taken = createServer();
  await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
  takenPort = (taken.address() as AddressInfo).port;
});

afterAll(async () => {
  inspector.disconnect();
  await new Promise((done) => taken.close(done));
  await stopRedis(redis);
});

/** The connections Redis holds besides the inspector's own. */
async function redisClients(): Promise<number> {
  const list = (await inspector.client('LIST')) as string;
  return list.split('\n').filter(Boolean).length - 1;
}

/** Whether nothing listens on `port`: the test can listen there itself. */
async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  const listened = await new Promise<boolean>((done) => {
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => done(true));
  });
  if (listened) await new Promise((done) => server.close(done));
  return listened;
}

describe('a start that fails at the metrics port, in this process', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = saved;
  });

  test('releases every part: no Redis connection, the service port free, nothing left on the scheduler', async () => {
    // Against AWS without credentials, started anyway: the gateway then also runs a loop that looks for them again.
    for (const name of Object.keys(process.env))
      if (name.startsWith('AWS_') && name !== 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED') delete process.env[name];
    Object.assign(process.env, { HOME: mkdtempSync(join(tmpdir(), 'er-gateway-home-')), AWS_EC2_METADATA_DISABLED: 'true' });
    const servicePort = await closedPort();
    // The endpoint is only named: without credentials nothing calls it.
    const {
      AWS_ACCESS_KEY_ID: _id,
      AWS_SECRET_ACCESS_KEY: _secret,
      ...aws
    } = awsBackendEnv(`http://127.0.0.1:${await closedPort()}`, 'us-east-1');
    const env = (metricsPort: number) => ({
      ...aws,
      PORT: String(servicePort),
      ER_METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'silent',
      ER_START_WITHOUT_AWS: 'true',
      ER_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      ER_REDIS_PREFIX: 'composition:',
    });

    // What the checks below see of a gateway that did start: its Redis connections, its port, its recheck loop.
    const scheduler = new ManualScheduler();
    const started = await startGateway(loadConfig(env(0)), { scheduler, processMetrics: false });
    expect(await redisClients()).toBeGreaterThanOrEqual(2);
    expect(await isFree(servicePort)).toBe(false);
    expect(scheduler.pending).toBe(1);
    await started.close();
    expect([await redisClients(), await isFree(servicePort), scheduler.pending]).toEqual([0, true, 0]);

    const failing = new ManualScheduler();
    const failed = startGateway(loadConfig(env(takenPort)), { scheduler: failing, processMetrics: false });
    await expect(failed).rejects.toBeInstanceOf(ListenError);
    await expect(failed).rejects.toThrow(
      `port ${takenPort} on 127.0.0.1 is in use by another process: stop it, or set ER_METRICS_PORT to a free port.`,
    );
    expect([await redisClients(), await isFree(servicePort), failing.pending]).toEqual([0, true, 0]);
  });
});

test('a process whose start fails at the metrics port exits by itself: no server, socket or timer of the gateway is left', async () => {
  // Not main.ts, which exits at once on a failed start: this process has to end on its own.
  const script = `
    require('reflect-metadata');
    const { startGateway } = require('./src/server/app');
    const { loadConfig } = require('./src/server/config');
    startGateway(loadConfig(JSON.parse(process.env.GATEWAY_ENV)), { processMetrics: false }).then(
      () => console.log('started'),
      (err) => console.log('failed: ' + err.message),
    );`;
  const env = {
    // Replicas on Redis share a service (the embedded emulator is refused with Redis): one is only named, as nothing calls it.
    ...awsBackendEnv(`http://127.0.0.1:${await closedPort()}`, 'us-east-1'),
    PORT: '0',
    ER_METRICS_PORT: String(takenPort),
    LOG_LEVEL: 'silent',
    ER_REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    ER_REDIS_PREFIX: 'composition-process:',
  };
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    cwd: resolve(__dirname, '..'),
    env: {
      PATH: process.env.PATH,
      NODE_NO_WARNINGS: '1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      GATEWAY_ENV: JSON.stringify(env),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise((done) => child.once('exit', done));
  expect([code, stdout.trim()]).toEqual([
    0,
    `failed: port ${takenPort} on 127.0.0.1 is in use by another process: stop it, or set ER_METRICS_PORT to a free port.`,
  ]);
  expect(await redisClients()).toBe(0);
}, 60_000);
