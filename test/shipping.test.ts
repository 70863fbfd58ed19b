import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { satisfies } from 'semver';
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
  build?: string;
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, unknown>;
}

/** A Kubernetes object, as far as these tests read it. */
interface Manifest {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each test reads the fields of its own kind
  spec: any;
  data?: Record<string, string>;
}

const manifests = (path: string): Manifest[] => parseAllDocuments(read(path)).map((doc) => doc.toJS() as Manifest);

/** The runtime stage's CMD, as the exec-form JSON array Docker runs. */
function imageCommand(): string[] {
  const runtime = read('Dockerfile')
    .split(/^FROM /m)
    .at(-1)!;
  const cmd = /^CMD (\[.*\])$/m.exec(runtime);
  if (!cmd) throw new Error('the runtime stage has no exec-form CMD');
  return JSON.parse(cmd[1]) as string[];
}

/** Runs a compose health check's `CMD` form here, its container address replaced by this machine's; resolves to its exit code. */
function healthCheck(service: ComposeService, inContainer: string, here: string): Promise<number | null> {
  const [form, program, ...args] = service.healthcheck!.test;
  expect([form, program]).toEqual(['CMD', 'node']);
  const child = spawn(
    process.execPath,
    args.map((arg) => arg.replace(inContainer, here)),
    { stdio: 'inherit' },
  );
  return new Promise((exited) => child.once('exit', exited));
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

test('the image, CI and engines agree on Node: the image and CI run Node 24, which engines admits with the 20.19 a newcomer may have', () => {
  const bases = [...read('Dockerfile').matchAll(/^FROM node:(\d+)-/gm)].map((m) => Number(m[1]));
  expect(bases).toEqual([24, 24]);
  const ci = /^NODE_IMAGE_VERSION=(\d+)\.\d+\.\d+$/m.exec(read('.ci/run'));
  expect(Number(ci?.[1])).toBe(24);
  const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
  for (const version of ['24.0.0', '22.12.0', '20.19.0']) expect(satisfies(version, engines)).toBe(true);
  expect(satisfies('18.20.0', engines)).toBe(false);
});

test('the compose file: Redis, the emulator, two replicas whose settings pass the gateway check and whose health is /readyz', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
  const { services } = compose;
  expect(Object.keys(services).sort()).toEqual(['emulator', 'gateway-1', 'gateway-2', 'redis']);
  // One image, built once (by the emulator service), run by the emulator and both replicas.
  expect(Object.entries(services).filter(([, service]) => service.build !== undefined)).toEqual([['emulator', expect.anything()]]);
  expect(new Set(['emulator', 'gateway-1', 'gateway-2'].map((name) => services[name].image))).toEqual(new Set(['er-gateway:local']));
  expect(services.emulator.healthcheck).toBeDefined();
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

test('the Kubernetes manifests: probes on /healthz and /readyz, settings that pass the gateway check, node as the process, a service account for IRSA, a disruption budget, the shutdown covered once', () => {
  const documents = manifests('deploy/k8s/er-gateway.yaml');
  expect(documents.map((doc) => doc.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
  const configMap = documents.find((doc) => doc.kind === 'ConfigMap')!;
  const config = loadConfig(configMap.data!);
  expect(config).toMatchObject({
    backend: 'aws',
    redisUrl: 'redis://redis:6379/0',
    auth: { modes: ['jwt'] },
    trustProxy: 1,
  });
  const pod = documents.find((doc) => doc.kind === 'Deployment')!.spec.template.spec;
  const container = pod.containers[0];
  expect([container.livenessProbe.httpGet.path, container.readinessProbe.httpGet.path]).toEqual(['/healthz', '/readyz']);
  expect(container.command).toEqual(imageCommand());
  // The role to fill in, on the account the pods run as.
  const account = documents.find((doc) => doc.kind === 'ServiceAccount')!;
  expect(pod.serviceAccountName).toBe(account.metadata.name);
  expect(account.metadata.annotations).toHaveProperty(['eks.amazonaws.com/role-arn']);
  expect(documents.find((doc) => doc.kind === 'PodDisruptionBudget')!.spec).toEqual({
    minAvailable: 1,
    selector: documents.find((doc) => doc.kind === 'Deployment')!.spec.selector,
  });
  // A router in the cluster calls the Service by its name: the host guard admits it.
  const service = documents.find((doc) => doc.kind === 'Service')!;
  expect(config.allowedHosts).toEqual(
    expect.arrayContaining([service.metadata.name, `${service.metadata.name}.default.svc.cluster.local`]),
  );
  // The delay is the gateway's own: a preStop sleep would add to it.
  expect(container.lifecycle?.preStop).toBeUndefined();
  // Delay, drain and the 2 s in which requests still waiting are answered.
  expect(config.shutdownDelayMs).toBe(5000);
  expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.shutdownDelayMs + config.shutdownDrainMs + 2000);
  const redis = manifests('deploy/k8s/redis.yaml');
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
    // Both health checks, run as compose runs them (inside the container, where the ports are 4610 and 4000).
    expect(await healthCheck(compose.services.emulator, 'http://127.0.0.1:4610', `http://127.0.0.1:${emulatorPort}`)).toBe(0);
    expect(await healthCheck(compose.services['gateway-1'], 'http://127.0.0.1:4000', gateway.url)).toBe(0);
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
