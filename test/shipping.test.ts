import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../src/server/config';
import { closedPort } from './utils/gateway';
import { startGatewayProcess } from './utils/process';
import { SHARED_REDIS_URL, sharedRedisPrefix } from './utils/redis';

/**
 * What ships: the Dockerfile, the compose file and the Kubernetes manifests.
 * No Docker engine runs here, so the image is not built; what can be checked
 * without one is: the files parse, every gateway environment they set passes
 * the gateway's own settings check, and the image's command, built the way
 * the Dockerfile builds it, serves with the compose file's settings and
 * drains on SIGTERM.
 */

const root = resolve(__dirname, '..');
const read = (path: string) => readFileSync(resolve(root, path), 'utf8');

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, unknown>;
}

/** The runtime stage's CMD, as the exec-form JSON array Docker runs. */
function imageCommand(): string[] {
  const runtime = read('Dockerfile')
    .split(/^FROM /m)
    .at(-1)!;
  const cmd = /^CMD (\[.*\])$/m.exec(runtime);
  if (!cmd) throw new Error('the runtime stage has no exec-form CMD');
  return JSON.parse(cmd[1]) as string[];
}

test('the Dockerfile: multi-stage, production dependencies only, a non-root user, node itself as the process', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  expect(stages).toHaveLength(2);
  const runtime = stages[1];
  expect(runtime).toMatch(/^RUN npm ci --omit=dev\b/m);
  expect(runtime).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
  expect(runtime).toMatch(/^USER node$/m);
  expect(imageCommand()).toEqual(['node', 'dist/server/main.js']);
  // The build stage builds as a developer does: the TypeScript and the dashboard's bundle.
  expect(stages[0]).toMatch(/^RUN npm run build$/m);
  expect(stages[0]).toMatch(/^COPY src \.\/src$/m);
});

test('the compose file: Redis, the emulator, two replicas whose settings pass the gateway check and whose health is /readyz', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
  const { services } = compose;
  expect(Object.keys(services).sort()).toEqual(['emulator', 'gateway-1', 'gateway-2', 'redis']);
  for (const name of ['gateway-1', 'gateway-2']) {
    const gateway = services[name];
    const config = loadConfig(gateway.environment!);
    expect(config).toMatchObject({
      nodeEnv: 'production',
      backend: 'aws',
      endpoint: 'http://emulator:4610',
      redisUrl: 'redis://redis:6379/0',
    });
    expect(gateway.healthcheck!.test.join(' ')).toContain('/readyz');
    expect(Object.keys(gateway.depends_on!).sort()).toEqual(['emulator', 'redis']);
  }
  expect(services.emulator.command).toEqual(['node', 'dist/emulator/main.js']);
});

test('the Kubernetes manifests: probes on /healthz and /readyz, settings that pass the gateway check, node as the process', () => {
  const documents = parseAllDocuments(read('deploy/k8s/er-gateway.yaml')).map((doc) => doc.toJS() as Record<string, any>);
  const configMap = documents.find((doc) => doc.kind === 'ConfigMap')!;
  expect(loadConfig(configMap.data)).toMatchObject({
    backend: 'aws',
    redisUrl: 'redis://redis:6379/0',
    auth: { modes: ['jwt'] },
    trustProxy: 1,
  });
  const container = documents.find((doc) => doc.kind === 'Deployment')!.spec.template.spec.containers[0];
  expect([container.livenessProbe.httpGet.path, container.readinessProbe.httpGet.path]).toEqual(['/healthz', '/readyz']);
  expect(container.command).toEqual(imageCommand());
  const redis = parseAllDocuments(read('deploy/k8s/redis.yaml')).map((doc) => doc.toJS() as Record<string, any>);
  expect(redis.map((doc) => doc.kind)).toEqual(['Deployment', 'Service']);
});

test("the image's command, built as the image builds it, serves with the compose settings and drains on SIGTERM", async () => {
  await promisify(execFile)('npm', ['run', 'build'], { cwd: root });
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
  // The emulator service, on a free loopback port instead of the compose network.
  const emulatorPort = await closedPort();
  const [program, ...args] = compose.services.emulator.command!;
  const emulator = spawn(program === 'node' ? process.execPath : program, args, {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      ...compose.services.emulator.environment,
      ER_EMULATOR_HOST: '127.0.0.1',
      ER_EMULATOR_PORT: String(emulatorPort),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const prefix = sharedRedisPrefix();
  try {
    await new Promise<void>((ready) => emulator.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && ready()));
    const gateway = await startGatewayProcess(
      {
        ...compose.services['gateway-1'].environment!,
        // What the image sets (ENV HOST) and what the compose network would resolve, on this machine instead.
        HOST: '127.0.0.1',
        ER_ENDPOINT: `http://127.0.0.1:${emulatorPort}`,
        ER_REDIS_URL: SHARED_REDIS_URL,
        ER_REDIS_PREFIX: prefix,
        ER_METRICS_HOST: '127.0.0.1',
      },
      imageCommand(),
    );
    const ready = await fetch(`${gateway.url}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', checks: { redis: true, aws: true } }]);
    const res = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ idMappingWorkflows(first: 1) { nodes { workflowName } } }' }),
    });
    expect(((await res.json()) as { data: unknown }).data).toEqual({
      idMappingWorkflows: { nodes: [{ workflowName: expect.any(String) }] },
    });
    // The dashboard's bundle is in dist/, served as built.
    const dashboard = await fetch(`${gateway.url}/dashboard/main.js`);
    expect([dashboard.status, dashboard.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    expect(gateway.lines.map((line) => line.msg)).toContain('shut down cleanly');
  } finally {
    emulator.kill('SIGKILL');
  }
}, 60_000);
