import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { leftover } from './leftovers';

/** Debian's package puts it in /usr/sbin, which a user's PATH may not hold. */
function haproxyBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  if (existsSync('/usr/sbin/haproxy')) return '/usr/sbin/haproxy';
  throw new Error('haproxy is not installed (apt-get install -y haproxy; .ci/run installs it)');
}

export interface LoadBalancerOptions {
  /** The port clients connect to. */
  port: number;
  /** The backend's servers, by name: each a loopback port. */
  servers: Record<string, number>;
  /** Health checks on GET /readyz every `interMs`; `fall` failures mark a server down, `rise` successes up. */
  interMs: number;
  fall: number;
  rise: number;
  /** `option redispatch`: the last retry of a refused connection goes to another server. @default false */
  redispatch?: boolean;
}

/** HAProxy in front of gateway replicas, as a platform team runs it; the test reads its view of each server from the stats socket. */
export interface LoadBalancer {
  url: string;
  /** The server's state as HAProxy sees it: `UP`, `DOWN`, or a transition such as `UP 1/2`. */
  state(server: string): Promise<string>;
  /** Resolves once HAProxy's state for `server` is `wanted` (`UP` or `DOWN`), looking again each `interMs / 2`. */
  until(server: string, wanted: 'UP' | 'DOWN'): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts HAProxy (foreground, its own config and stats socket in a
 * temporary folder) and resolves once its stats socket answers. Stopped
 * after the test (see leftovers).
 */
export async function startLoadBalancer(options: LoadBalancerOptions): Promise<LoadBalancer> {
  const dir = mkdtempSync(join(tmpdir(), 'er-gateway-haproxy-'));
  const socket = join(dir, 'admin.sock');
  const config = [
    'global',
    `  stats socket ${socket} mode 600 level admin`,
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    // A replica busy with a burst of reconnects may answer a check late: late is not down.
    '  timeout check 5s',
    // Websockets are tunnels once upgraded.
    '  timeout tunnel 10m',
    '  retries 3',
    ...(options.redispatch ? ['  option redispatch'] : []),
    'frontend graphql',
    `  bind 127.0.0.1:${options.port}`,
    '  option forwardfor',
    '  default_backend gateways',
    'backend gateways',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    `  default-server inter ${options.interMs}ms fall ${options.fall} rise ${options.rise}`,
    ...Object.entries(options.servers).map(([name, port]) => `  server ${name} 127.0.0.1:${port} check`),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'haproxy.cfg'), config);
  const child: ChildProcess = spawn(haproxyBinary(), ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = leftover(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const stats = async (): Promise<string> =>
    new Promise((resolve, reject) => {
      const connection = createConnection(socket);
      let text = '';
      connection.on('connect', () => connection.write('show stat\n'));
      connection.on('data', (chunk) => (text += chunk.toString()));
      connection.on('end', () => resolve(text));
      connection.on('error', reject);
    });
  const state = async (server: string): Promise<string> => {
    const [header, ...rows] = (await stats()).split('\n');
    const columns = header.replace(/^# /, '').split(',');
    const row = rows.map((line) => line.split(',')).find((cells) => cells[0] === 'gateways' && cells[1] === server);
    if (!row) throw new Error(`haproxy has no server ${server}`);
    return row[columns.indexOf('status')];
  };
  // Its socket answers once it has read the config and bound its ports.
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
    if (existsSync(socket) && (await stats().then(Boolean, () => false))) break;
    await sleep(20);
  }
  return {
    url: `http://127.0.0.1:${options.port}`,
    state,
    until: async (server, wanted) => {
      while ((await state(server)) !== wanted) await sleep(options.interMs / 2);
    },
    close,
  };
}
