import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { startGateway } from '../src/server/app';
import { loadConfig } from '../src/server/config';
import { awsBackendEnv } from './utils/gateway';
import { runGatewayProcess, startGatewayProcess } from './utils/process';
import { ManualScheduler } from './utils/scheduler';

/**
 * Start-ups that cannot succeed end at once with one line that says what to
 * change: in real processes, as `npm start` and `npm run emulator` run.
 */

let taken: Server;
let port: number;

beforeAll(async () => {
  taken = createServer();
  await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
  port = (taken.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((done) => taken.close(done));
});

test.each([
  ['PORT', 'PORT'],
  ['ER_METRICS_PORT', 'ER_METRICS_PORT'],
])('a %s in use: one line naming the port and the setting, exit 1', async (variable, setting) => {
  // Node's warnings on: the AWS SDK's Node version notice must not be printed either.
  const { code, stdout, stderr } = await runGatewayProcess({
    HOST: '127.0.0.1',
    [variable]: String(port),
    LOG_LEVEL: 'warn',
    NODE_NO_WARNINGS: '',
  });
  expect(code).toBe(1);
  expect(stderr.trim()).toBe(
    `er-gateway: cannot start: port ${port} on 127.0.0.1 is in use by another process: stop it, or set ${setting} to a free port.`,
  );
  // Nothing else complains about it first (ws passed the listen error on, and was logged as a websocket fault).
  expect(stdout).not.toMatch(/EADDRINUSE|websocket server error/);
});

test('the emulator alone on a port in use: one line, exit 1', async () => {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/emulator/main.ts'], {
    cwd: resolve(__dirname, '..'),
    env: { PATH: process.env.PATH, NODE_NO_WARNINGS: '1', ER_EMULATOR_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise((done) => child.once('exit', done));
  expect(code).toBe(1);
  expect(stderr.trim()).toBe(
    `emulator: cannot start: 127.0.0.1:${port} is in use by another process: stop it, or set ER_EMULATOR_PORT to a free port.`,
  );
});

describe('against AWS without a region or credentials', () => {
  /** AWS mode with nothing for the SDK to find: no AWS variables, an empty home (no ~/.aws), no instance metadata. */
  const bare = () => ({
    ER_BACKEND: 'aws',
    ER_AUTH: 'none',
    ER_ENDPOINT: `http://127.0.0.1:${port}`,
    HOME: mkdtempSync(join(tmpdir(), 'er-gateway-home-')),
    AWS_EC2_METADATA_DISABLED: 'true',
    LOG_LEVEL: 'warn',
  });

  test('the gateway refuses to start, naming the region and the credentials it lacks', async () => {
    const { code, stderr } = await runGatewayProcess(bare());
    expect(code).toBe(1);
    expect(stderr).toContain('ER_BACKEND=aws needs an AWS region: set AWS_REGION');
    expect(stderr).toContain(
      'AWS credentials (Could not load credentials from any providers): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  });

  test('with a region, it names only the credentials', async () => {
    const { code, stderr } = await runGatewayProcess({ ...bare(), AWS_REGION: 'us-east-1' });
    expect(code).toBe(1);
    expect(stderr).not.toContain('AWS region');
    expect(stderr).toContain('needs AWS credentials');
  });

  test('with ER_START_WITHOUT_AWS it starts not ready, and clients learn the gateway is misconfigured, not that AWS is down', async () => {
    const gateway = await startGatewayProcess({ ...bare(), AWS_REGION: 'us-east-1', ER_START_WITHOUT_AWS: 'true', LOG_LEVEL: 'info' });
    try {
      const ready = await fetch(`${gateway.url}/readyz`);
      expect([ready.status, await ready.json()]).toEqual([503, { status: 'not ready', checks: { aws: false } }]);
      expect(gateway.lines.some((line) => String(line.msg).startsWith('AWS: ER_BACKEND=aws needs AWS credentials'))).toBe(true);
      const res = await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ idMappingWorkflows(first: 1) { nodes { workflowName } } }' }),
      });
      const body = (await res.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors[0].extensions.code).toBe('GATEWAY_MISCONFIGURED');
      expect(body.errors[0].message).toContain('not set up to call AWS');
    } finally {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
    }
  });
});

test('started without AWS access, the gateway looks again every 30 s and is ready once credentials resolve', async () => {
  const saved = { ...process.env };
  const home = mkdtempSync(join(tmpdir(), 'er-gateway-home-'));
  for (const name of Object.keys(process.env))
    if (name.startsWith('AWS_') && name !== 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED') delete process.env[name];
  Object.assign(process.env, { HOME: home, AWS_EC2_METADATA_DISABLED: 'true' });
  const scheduler = new ManualScheduler();
  const config = loadConfig({
    ...awsBackendEnv(`http://127.0.0.1:${port}`, 'us-east-1'),
    LOG_LEVEL: 'silent',
    ER_START_WITHOUT_AWS: 'true',
  });
  const gateway = await startGateway(config, { scheduler, processMetrics: false });
  try {
    const readiness = async () => (await fetch(`${gateway.url}/readyz`)).status;
    expect(await readiness()).toBe(503);
    expect(scheduler.nextDelay).toBe(30_000);
    await scheduler.runNext();
    expect(await readiness()).toBe(503);
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' });
    await scheduler.runNext();
    expect(await readiness()).toBe(200);
    // Ready, it stops looking.
    expect(scheduler.pending).toBe(0);
  } finally {
    await gateway.close();
    process.env = saved;
  }
});
