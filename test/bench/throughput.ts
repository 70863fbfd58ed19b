import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import fastify from 'fastify';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import pino from 'pino';
import { seededJobId } from '../../src/emulator/seed';
import { startGateway } from '../../src/server/app';
import { loadConfig } from '../../src/server/config';
import { newApiKey, startIssuer, writeTempFile, type TestIssuer } from '../utils/auth';

/**
 * Throughput against the ceiling: the gateway with its production defaults
 * (caches, governor and limits on, info logging to /dev/null) beside a bare
 * Apollo Server from `startStandaloneServer` answering `{ hello }`, measured
 * in the same run, both warmed up, by autocannon in a process of its own.
 * Each scenario runs with auth off, then with a JWT and with an API key.
 * Beside requests/s, the CPU time the servers' process spends per request:
 * on a shared machine the share of a core this process gets moves from one
 * round to the next, and requests/s with it; the CPU per request does not.
 */

export interface Load {
  rps: number;
  p50: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
}

const CONNECTIONS = 50;
const WARM_SECONDS = 2;

/**
 * autocannon's CLI, so the load generator does not share the servers' event loop; with `cpus` (a `taskset` list), on
 * those CPUs only; with `rate`, that many requests a second over all connections (autocannon's `--overallRate`), else as
 * many as the server answers.
 */
export async function load(
  url: string,
  body: string,
  seconds: number,
  connections = CONNECTIONS,
  headers: Record<string, string> = {},
  cpus?: string,
  rate?: number,
): Promise<Load> {
  const cli = resolve(__dirname, '../../node_modules/autocannon/autocannon.js');
  const args = [
    ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}=${value}`]),
    '--json',
    '-c',
    String(connections),
    '-d',
    String(seconds),
    ...(rate ? ['--overallRate', String(rate)] : []),
    '-m',
    'POST',
    '-H',
    'content-type=application/json',
    '-b',
    body,
    url,
  ];
  const [program, ...rest] = [...(cpus ? ['taskset', '-c', cpus] : []), process.execPath, cli, ...args];
  const { stdout } = await promisify(execFile)(program, rest, { maxBuffer: 16 * 2 ** 20 });
  const r = JSON.parse(stdout) as {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
  };
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, total: r.requests.total, non2xx: r.non2xx, errors: r.errors };
}

/**
 * Warmed for two seconds, then measured; with the CPU time this process (the servers; autocannon has its own) spent per
 * request served meanwhile, in µs (`userUs` its user time alone, without the kernel's work on the sockets): on a machine
 * others load too, the steadier figure.
 */
export async function measure(
  url: string,
  body: string,
  seconds: number,
  headers?: Record<string, string>,
): Promise<Load & { cpuUs: number; userUs: number }> {
  await load(url, body, WARM_SECONDS, CONNECTIONS, headers);
  const before = process.cpuUsage();
  const r = await load(url, body, seconds, CONNECTIONS, headers);
  const used = process.cpuUsage(before);
  return { ...r, cpuUs: (used.user + used.system) / Math.max(1, r.total), userUs: used.user / Math.max(1, r.total) };
}

const query = (text: string) => JSON.stringify({ query: text });

const finishedJob = query(
  `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 5)}") { status startTime endTime metrics { inputRecords totalRecordsProcessed } } }`,
);

export interface Scenario {
  label: string;
  /** The ratio the issue asks for; none for figures shown for comparison. */
  target?: number;
  body: string;
  /** Settings beside the defaults. */
  env?: Record<string, string>;
}

export const SCENARIOS: Scenario[] = [
  { label: 'a single finished job (status, times, two metrics), cached: answered before Apollo runs', target: 1.5, body: finishedJob },
  {
    label: 'the same, response cache off (executed; the job from the final-job cache)',
    target: 0.8,
    body: finishedJob,
    env: { ER_RESPONSE_CACHE_MB: '0' },
  },
  {
    label: 'a list of 25 finished jobs with metrics, cached (for its one-second window)',
    target: 1.2,
    body: query(
      '{ idMappingJobs(workflowName: "customer-id-map", first: 25) { nodes { jobId status metrics { inputRecords totalRecordsProcessed } } } }',
    ),
  },
  { label: '`{ __typename }`', target: 1.0, body: query('{ __typename }') },
];

/** How requests authenticate: each scenario runs with auth off, then with each mode, whose ratio must stay within 10 % of off's. */
export interface AuthMode {
  label: string;
  env: Record<string, string>;
  headers: Record<string, string>;
}

/** A JWT signed by a local key set (a JWKS over HTTP, as an identity provider serves it) and an API key, each granted read on every workflow. */
export async function authModes(issuer: TestIssuer): Promise<AuthMode[]> {
  const apiKey = newApiKey();
  const policy = writeTempFile('policy.yaml', {
    grants: [{ to: { groups: ['bench'] }, workflows: ['*'], actions: ['read'] }],
  });
  return [
    {
      label: 'JWT',
      env: {
        ER_AUTH: 'jwt',
        ER_JWT_JWKS_URL: issuer.jwksUrl,
        ER_JWT_ISSUER: issuer.issuer,
        ER_JWT_AUDIENCE: issuer.audience,
        ER_POLICY_FILE: policy,
      },
      headers: { authorization: `Bearer ${await issuer.sign('bench', { groups: ['bench'] })}` },
    },
    {
      label: 'API key',
      env: {
        ER_AUTH: 'apikey',
        ER_API_KEYS_FILE: writeTempFile('keys.yaml', { keys: [{ name: 'bench', sha256: apiKey.sha256, groups: ['bench'] }] }),
        ER_POLICY_FILE: policy,
      },
      headers: { 'x-api-key': apiKey.key },
    },
  ];
}

/** The ceiling: a raw fastify route answering `body` (the bytes of a cached answer) as JSON, with nothing else to do. */
async function rawRoute(body: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const app = fastify({ logger: false });
  app.post('/', (_request, reply) => reply.type('application/json; charset=utf-8').send(body));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, stop: () => app.close() };
}

async function bareServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const apollo = new ApolloServer({ typeDefs: 'type Query { hello: String }', resolvers: { Query: { hello: () => 'world' } } });
  const { url } = await startStandaloneServer(apollo, { listen: { port: 0, host: '127.0.0.1' } });
  return { url, stop: () => apollo.stop() };
}

const row = (label: string, r: Load & { cpuUs: number }, ratio?: string, cpuRatio?: string) =>
  `| ${label} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.non2xx + r.errors} | ${r.cpuUs.toFixed(0)} | ${ratio ?? '—'} | ${cpuRatio ?? '—'} |`;

/**
 * Prints each scenario's requests/s and p50/p99 beside the bare server's,
 * measured just before it (this machine's speed drifts within a run), and
 * their ratio. Each scenario's answer is checked first: an error would make
 * a fast figure meaningless.
 */
export async function throughput(seconds: number): Promise<void> {
  console.log(
    `\nthroughput: ${CONNECTIONS} connections, ${seconds} s each after ${WARM_SECONDS} s warm-up; bare = Apollo Server startStandaloneServer answering { hello }, measured just before each scenario; load average ${loadAverage()} (the machine is shared: figures move with it)\n`,
  );
  console.log(
    '| server, query | requests/s | p50 (ms) | p99 (ms) | non-2xx or errors | CPU µs per request | ratio to bare (target) | by CPU: bare µs ÷ these µs |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  const hello = query('{ hello }');
  const bare = await bareServer();
  const issuer = await startIssuer();
  const modes = await authModes(issuer);
  try {
    await ceiling(bare.url, hello, seconds);
    for (const scenario of SCENARIOS) {
      const off = await pair(bare.url, hello, scenario, seconds);
      for (const mode of modes) await pair(bare.url, hello, scenario, seconds, mode, off);
    }
  } finally {
    await issuer.close();
    await bare.stop();
  }
  console.log(`\nload average at the end: ${loadAverage()}`);
}

/** The 1, 5 and 15-minute load averages. */
const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');

/**
 * One scenario (with `auth`, authenticated by it) beside the bare server measured just before; its ratio, printed with
 * the target, and with auth its ratio to auth off's (`off`), which must stay within 10 %.
 */
async function pair(
  bareUrl: string,
  hello: string,
  scenario: Scenario,
  seconds: number,
  auth?: AuthMode,
  off?: { ratio: number; cpuUs: number },
): Promise<{ ratio: number; cpuUs: number }> {
  const gateway = await startGateway(loadConfig({ PORT: '0', ER_METRICS_PORT: '0', LOG_LEVEL: 'info', ...scenario.env, ...auth?.env }), {
    logger: pino({ level: 'info' }, pino.destination('/dev/null')),
  });
  try {
    const answer = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth?.headers },
      body: scenario.body,
    });
    const checked = (await answer.json()) as { errors?: unknown };
    if (!answer.ok || checked.errors) throw new Error(`${scenario.label}: ${JSON.stringify(checked)}`);
    const base = await measure(bareUrl, hello, seconds);
    const r = await measure(`${gateway.url}/graphql`, scenario.body, seconds, auth?.headers);
    const ratio = r.rps / base.rps;
    const cpuRatio = base.cpuUs / r.cpuUs;
    const target = (value: number) =>
      scenario.target === undefined ? '' : ` (≥ ${scenario.target})${value >= scenario.target ? '' : ' MISSED'}`;
    const ofOff = (value: number, offValue: number) =>
      `, ${(value / offValue).toFixed(2)} of auth off's (≥ 0.9)${value / offValue >= 0.9 ? '' : ' MISSED'}`;
    console.log(row('bare Apollo Server, `{ hello }`', base));
    console.log(
      row(
        `er-gateway${auth ? ` with ${auth.label}` : ''}, ${scenario.label}`,
        r,
        `**${ratio.toFixed(2)}**${target(ratio)}${off ? ofOff(ratio, off.ratio) : ''}`,
        // Beside auth off's by the gateway's own µs: the bare rounds' own drift stays out of it.
        `**${cpuRatio.toFixed(2)}**${target(cpuRatio)}${off ? ofOff(off.cpuUs, r.cpuUs) : ''}`,
      ),
    );
    return { ratio, cpuUs: r.cpuUs };
  } finally {
    await gateway.close();
  }
}

/** The raw route with the cached single job's bytes, beside the bare server measured just before it. */
async function ceiling(bareUrl: string, hello: string, seconds: number): Promise<void> {
  const gateway = await startGateway(loadConfig({ PORT: '0', ER_METRICS_PORT: '0', LOG_LEVEL: 'info' }), {
    logger: pino({ level: 'info' }, pino.destination('/dev/null')),
  });
  let bytes: string;
  try {
    const answer = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: finishedJob,
    });
    bytes = await answer.text();
  } finally {
    await gateway.close();
  }
  const raw = await rawRoute(bytes);
  try {
    const base = await measure(bareUrl, hello, seconds);
    const r = await measure(raw.url, '{}', seconds);
    console.log(row('bare Apollo Server, `{ hello }`', base));
    console.log(
      row(
        `raw fastify route, the cached single job's ${bytes.length} bytes (the ceiling)`,
        r,
        `**${(r.rps / base.rps).toFixed(2)}**`,
        `**${(base.cpuUs / r.cpuUs).toFixed(2)}**`,
      ),
    );
  } finally {
    await raw.stop();
  }
}

let built = false;

/**
 * `npm run build`, once per bench run (the start-up figure and the gateways
 * of the auth and tracing benches run the compiled `dist/`, as `npm start`
 * does). Run from `src/` through ts-node, each gateway process also held
 * the TypeScript compiler in its heap (about 50 MB more for every full
 * collection to mark) and a profile named stale compiler code for the
 * request path's.
 */
export function buildOnce(): void {
  if (built) return;
  // The compiler's complaints, if any, on the bench's stderr.
  execFileSync('npm', ['run', 'build'], { cwd: resolve(__dirname, '../..'), stdio: ['ignore', 'ignore', 'inherit'] });
  built = true;
}

/** Seconds from `npm start` to the gateway's "ready" line, with nothing changed since the last build. */
export async function startup(runs = 3): Promise<void> {
  const root = resolve(__dirname, '../..');
  buildOnce();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    // Its own process group, so that the stop reaches node under npm.
    const child = spawn('npm', ['start'], {
      cwd: root,
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    await new Promise<void>((done, fail) => {
      createInterface({ input: child.stdout! }).on('line', (line) => line.includes('er-gateway ready at') && done());
      child.once('exit', (code) => fail(new Error(`npm start exited (${code}) before it was ready`)));
    });
    times.push((performance.now() - started) / 1000);
    const exited = new Promise((done) => child.once('exit', done));
    process.kill(-child.pid!, 'SIGTERM');
    await exited;
  }
  console.log(`\nstartup: npm start to ready with nothing to rebuild, ${runs} runs: ${times.map((s) => `${s.toFixed(2)} s`).join(', ')}`);
}
