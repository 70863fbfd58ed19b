import { Redis } from 'ioredis';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { closedPort } from './gateway';
import { parseRedisUrl } from '../../src/cluster/redis-url';
import { leftover } from './leftovers';
import { until } from './wait';

/**
 * redis-server processes of the test's own, on free loopback ports, their
 * data in a temporary folder: one server (`ownRedis`), a primary with a
 * replica under three sentinels (`ownSentinels`), or a cluster of primaries
 * (`ownCluster`). Each resolves once its Redis is ready for the gateway and
 * is stopped, and its folder removed, after the test if the test does not.
 */

/** What each redis-server process has written to stdout so far, and a signal of each new chunk. */
const outputs = new WeakMap<ChildProcess, { text: string; emitter: EventEmitter }>();

/** Resolves once `server`'s output (from its start) matches `line` (or `line` says so of it); rejects if it exits first. */
export async function redisLogLine(server: ChildProcess, line: RegExp | ((output: string) => boolean)): Promise<void> {
  const seen = typeof line === 'function' ? line : (text: string) => line.test(text);
  const output = outputs.get(server)!;
  const exited = new Promise<never>((_, reject) =>
    server.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before logging ${String(line)}:\n${output.text}`))),
  );
  await Promise.race([until(() => seen(output.text), { emitter: output.emitter, event: 'data' }), exited]);
}

/** Starts `redis-server args` and resolves once its output has a line matching `ready`. */
async function redisProcess(args: string[], ready: RegExp): Promise<ChildProcess> {
  const server = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  leftover(() => stopRedis(server));
  const output = { text: '', emitter: new EventEmitter() };
  outputs.set(server, output);
  server.stdout!.on('data', (chunk: Buffer) => {
    output.text += chunk.toString();
    output.emitter.emit('data');
  });
  await redisLogLine(server, ready);
  return server;
}

/** A folder of the test's own, removed after the processes started after it. */
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'er-gateway-redis-'));
  leftover(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const READY = /Ready to accept connections/;

/** A Redis of the test's own on `port`, with nothing saved to disk; resolves once it accepts connections. Stopped after the test if the test does not. */
export async function ownRedis(port: number, args: string[] = [], ready = READY): Promise<ChildProcess> {
  return redisProcess(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], ready);
}

/** Stops `server` (SIGCONT first, in case a test left it stopped) and waits for it to exit. */
export async function stopRedis(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGCONT');
  server.kill('SIGKILL');
  await exited;
}

/** A Redis server of a topology, with the port it listens on. */
export interface RedisNodeProcess {
  port: number;
  process: ChildProcess;
}

export interface OwnSentinels {
  /** `redis+sentinel://` URL of the three sentinels and the master name. */
  url: string;
  name: string;
  primary: RedisNodeProcess;
  replica: RedisNodeProcess;
  sentinels: RedisNodeProcess[];
  /** Resolves with the new primary's port at the first sentinel's `+switch-master` from now on. */
  switched(): Promise<number>;
}

/**
 * A primary, its replica and three sentinels monitoring them (quorum 2, the
 * primary down after 1 s without an answer). Resolves once the replica is in
 * sync and every sentinel knows the replica and the other two sentinels (by
 * their `+slave` and `+sentinel` events), so that a failover can be agreed
 * from then on.
 */
export async function ownSentinels(name = 'er-primary'): Promise<OwnSentinels> {
  const dir = dataDir();
  const [primaryPort, replicaPort] = [await closedPort(), await closedPort()];
  const primary = { port: primaryPort, process: await ownRedis(primaryPort, ['--dir', dir]) };
  // In sync before the sentinels start: their first look at the primary finds the replica.
  const replica = {
    port: replicaPort,
    process: await ownRedis(
      replicaPort,
      ['--dir', dir, '--replicaof', '127.0.0.1', String(primaryPort)],
      /MASTER <-> REPLICA sync: Finished with success/,
    ),
  };
  const sentinels: RedisNodeProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await closedPort();
    const file = join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 10000`,
        '',
      ].join('\n'),
    );
    sentinels.push({ port, process: await redisProcess([file, '--sentinel'], /\+monitor master/) });
  }
  await Promise.all(
    sentinels.map(({ process }) =>
      Promise.all([
        redisLogLine(process, /\+slave slave/),
        redisLogLine(process, (text) => (text.match(/\+sentinel sentinel/g) ?? []).length >= 2),
      ]),
    ),
  );
  const url = `redis+sentinel://${sentinels.map(({ port }) => `127.0.0.1:${port}`).join(',')}/${name}`;
  const switched = async (): Promise<number> => {
    const listener = new Redis(sentinels[0].port, '127.0.0.1');
    // Disconnected twice, ioredis leaves a timer of 2 s for a socket already closed.
    leftover(() => listener.status !== 'end' && listener.disconnect());
    await listener.subscribe('+switch-master');
    return new Promise<number>((resolve) =>
      listener.on('message', (_channel: string, message: string) => {
        // "<name> <old ip> <old port> <new ip> <new port>"
        const [master, , , , port] = message.split(' ');
        if (master === name) {
          listener.disconnect();
          resolve(Number(port));
        }
      }),
    );
  };
  return { url, name, primary, replica, sentinels, switched };
}

/** A free port whose cluster bus port (the port + 10000) is free too. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await closedPort();
    if (port + 10000 <= 65535 && (await isFree(port + 10000))) return port;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface OwnCluster {
  /** `redis+cluster://` URL of every primary (seed nodes). */
  url: string;
  /** The primaries, in the order `redis-cli --cluster create` was given them. */
  nodes: RedisNodeProcess[];
  /** With `replicas`, one replica per primary (which of them each follows is the cluster's choice). */
  replicas: RedisNodeProcess[];
}

/**
 * A cluster of `primaries` primaries, each with `replicas` replicas
 * (`redis-cli --cluster create … --cluster-replicas`), nodes failing after
 * 2 s without an answer; resolves once every node says `cluster_state:ok`
 * and every replica is in sync with its primary.
 */
export async function ownCluster(primaries = 3, replicas = 0): Promise<OwnCluster> {
  const dir = dataDir();
  const all: RedisNodeProcess[] = [];
  for (let i = 0; i < primaries * (1 + replicas); i++) {
    const port = await clusterPort();
    const args = [
      '--dir',
      dir,
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      `nodes-${port}.conf`,
      '--cluster-node-timeout',
      '2000',
    ];
    all.push({ port, process: await ownRedis(port, args) });
  }
  const addresses = all.map(({ port }) => `127.0.0.1:${port}`);
  await promisify(execFile)('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes']);
  // redis-cli makes the first nodes primaries and the rest their replicas.
  const nodes = all.slice(0, primaries);
  // A replica not yet in sync cannot be promoted (it counts as disconnected for too long): ready once each is.
  await Promise.all([
    ...all.map(({ process }) => redisLogLine(process, /Cluster state changed: ok/)),
    ...all.slice(primaries).map(({ process }) => redisLogLine(process, /MASTER <-> REPLICA sync: Finished with success/)),
  ]);
  return { url: `redis+cluster://${nodes.map(({ port }) => `127.0.0.1:${port}`).join(',')}`, nodes, replicas: all.slice(primaries) };
}

/** The primary of `cluster` that serves `key`'s slot now, and the slot. */
export async function primaryOf(cluster: OwnCluster, key: string): Promise<{ node: RedisNodeProcess; slot: number }> {
  const alive = [...cluster.nodes, ...cluster.replicas].find(({ process }) => process.exitCode === null && process.signalCode === null)!;
  const client = new Redis(alive.port, '127.0.0.1');
  try {
    const slot = (await client.call('CLUSTER', 'KEYSLOT', key)) as number;
    const ranges = (await client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const port = ranges.find(([from, to]) => slot >= from && slot <= to)![2][1];
    return { node: [...cluster.nodes, ...cluster.replicas].find((node) => node.port === port)!, slot };
  } finally {
    client.disconnect();
  }
}

/**
 * Moves `key`'s slot, with its keys, to another primary, as a resharding
 * does (SETSLOT IMPORTING / MIGRATING, MIGRATE, SETSLOT NODE on every
 * primary); resolves once every primary has it at its new place.
 */
export async function moveSlotOf(cluster: OwnCluster, key: string): Promise<void> {
  const { node: owner, slot } = await primaryOf(cluster, key);
  const target = cluster.nodes.find((node) => node !== owner)!;
  const [from, to] = [owner, target].map(({ port }) => new Redis(port, '127.0.0.1'));
  const primaries = cluster.nodes.map(({ port }) => new Redis(port, '127.0.0.1'));
  try {
    const [fromId, toId] = (await Promise.all([from.call('CLUSTER', 'MYID'), to.call('CLUSTER', 'MYID')])) as string[];
    await to.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
    await from.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
    for (;;) {
      const keys = (await from.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
      if (keys.length === 0) break;
      await from.call('MIGRATE', '127.0.0.1', target.port, '', 0, 5000, 'KEYS', ...keys);
    }
    for (const client of [to, from, ...primaries]) await client.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
  } finally {
    for (const client of [from, to, ...primaries]) client.disconnect();
  }
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

/** The keys matching `pattern` on the Redis `url` names (`ER_REDIS_URL`'s forms): on a cluster, on every seed node, as each holds its own slots. */
export async function redisKeys(url: string, pattern: string): Promise<string[]> {
  const topology = parseRedisUrl(url);
  const clients =
    topology.kind === 'standalone'
      ? [new Redis(topology.url)]
      : topology.kind === 'sentinel'
        ? [new Redis({ sentinels: topology.sentinels, name: topology.name })]
        : topology.nodes.map(({ host, port }) => new Redis(port, host));
  try {
    return (await Promise.all(clients.map((client) => client.keys(pattern)))).flat();
  } finally {
    for (const client of clients) client.disconnect();
  }
}

export interface OwnTlsRedis {
  port: number;
  /** The CA that signed the server's certificate, in PEM (for NODE_EXTRA_CA_CERTS). */
  caFile: string;
}

/**
 * A Redis that takes TLS only (a certificate for 127.0.0.1 and localhost
 * from a CA made here by openssl) and one ACL user, `user` with `password`,
 * the default user off: as managed Redis runs. Resolves once it accepts
 * connections.
 */
export async function ownTlsRedis(user: string, password: string): Promise<OwnTlsRedis> {
  const dir = dataDir();
  const run = (...args: string[]) => promisify(execFile)('openssl', args, { cwd: dir });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=er-gateway test CA');
  await run('req', ...ecKey, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'san.ext',
  );
  const port = await closedPort();
  const args = ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  args.push(
    '--tls-cert-file',
    join(dir, 'server.pem'),
    '--tls-key-file',
    join(dir, 'server.key'),
    '--tls-ca-cert-file',
    join(dir, 'ca.pem'),
  );
  args.push('--tls-auth-clients', 'no', '--user', 'default', 'off', '--user', user, 'on', `>${password}`, '~*', '&*', '+@all');
  await redisProcess(args, READY);
  return { port, caFile: join(dir, 'ca.pem') };
}
