import { fork } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer, Socket as NetSocket, type AddressInfo, type Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/**
 * The floor under a fan-out's delivery: the CPU time of one 300-byte write to
 * each of BENCH_SOCKETS (default 10,000) loopback sockets from one process,
 * raw and through ws, in the ways a gateway could write a frame. The clients
 * sit in a child process and read nothing (the kernel queues what arrives),
 * so the parent's time is its writes, the kernel's delivery included.
 *
 *   PATH=/work/node24/package/bin:$PATH node -r ts-node/register/transpile-only test/bench/write-floor.ts
 */

const BYTES = 300;
const ROUNDS = 5;

if (process.argv[2] === 'client') {
  const [, , , kind, port, count] = process.argv;
  const held: unknown[] = [];
  void (async () => {
    for (let i = 0; i < Number(count); i += 250) {
      await Promise.all(
        Array.from({ length: Math.min(250, Number(count) - i) }, () =>
          kind === 'raw'
            ? new Promise<void>((open) => {
                const socket = new NetSocket();
                socket.connect(Number(port), '127.0.0.1', () => {
                  socket.pause();
                  held.push(socket);
                  open();
                });
              })
            : new Promise<void>((open) => {
                const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
                ws.once('open', () => {
                  (ws as unknown as { _socket: Socket })._socket.pause();
                  held.push(ws);
                  open();
                });
              }),
        ),
      );
    }
    process.send?.('ready');
  })();
  process.on('message', () => process.exit(0));
} else {
  void main();
}

function child(kind: string, port: number, count: number) {
  const proc = fork(__filename, ['client', kind, String(port), String(count)], { execArgv: ['-r', 'ts-node/register/transpile-only'] });
  return { ready: new Promise<void>((resolve) => proc.once('message', () => resolve())), stop: () => proc.send('stop') };
}

/** CPU µs per write of `write(socket)` over every socket, the best of ROUNDS rounds (each waits for its callbacks). */
async function perWrite<S>(sockets: S[], write: (socket: S, done: () => void) => void): Promise<number> {
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    let left = sockets.length;
    let finished!: () => void;
    const all = new Promise<void>((resolve) => (finished = resolve));
    const done = () => {
      if (--left === 0) finished();
    };
    const cpu = process.cpuUsage();
    for (const socket of sockets) write(socket, done);
    await all;
    const used = process.cpuUsage(cpu);
    best = Math.min(best, (used.user + used.system) / sockets.length);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return best;
}

async function main() {
  const count = Number(process.env.BENCH_SOCKETS ?? 10_000);
  const payload = Buffer.alloc(BYTES, 'x');
  const head = Buffer.from([0x81, 126, BYTES >> 8, BYTES & 0xff]);
  const frame = Buffer.concat([head, payload]);

  const raw: Socket[] = [];
  const server = createServer((socket) => raw.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const rawClients = child('raw', (server.address() as AddressInfo).port, count);
  await rawClients.ready;
  while (raw.length < count) await new Promise((resolve) => setTimeout(resolve, 10));
  const rows: [string, number][] = [];
  rows.push(['raw: write(buffer) (no callback)', await perWrite(raw, (s, done) => (s.write(frame), done()))]);
  rows.push(['raw: write(buffer, callback)', await perWrite(raw, (s, done) => s.write(frame, done))]);
  rows.push([
    "raw: cork, write(head), write(payload, callback), uncork (ws's way)",
    await perWrite(raw, (s, done) => {
      s.cork();
      s.write(head);
      s.write(payload, done);
      s.uncork();
    }),
  ]);
  rows.push([
    'raw: copy into a new Buffer, write(buffer, callback)',
    await perWrite(raw, (s, done) => {
      const copy = Buffer.allocUnsafe(frame.length);
      frame.copy(copy);
      s.write(copy, done);
    }),
  ]);
  rawClients.stop();
  for (const s of raw) s.destroy();
  server.close();

  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  const ws: WebSocket[] = [];
  wss.on('connection', (socket) => ws.push(socket));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const wsClients = child('ws', (http.address() as AddressInfo).port, count);
  await wsClients.ready;
  while (ws.length < count) await new Promise((resolve) => setTimeout(resolve, 10));
  const TEXT = { binary: false };
  rows.push(['ws: send(buffer, {binary: false}, callback)', await perWrite(ws, (s, done) => s.send(payload, TEXT, done))]);
  rows.push([
    'ws: its net.Socket, write(frame, callback)',
    await perWrite(ws, (s, done) => (s as unknown as { _socket: Socket })._socket.write(frame, done)),
  ]);
  wsClients.stop();
  for (const s of ws) s.terminate();
  wss.close();
  http.close();

  console.log(`write floor: ${count} loopback sockets, ${BYTES}-byte payloads, best of ${ROUNDS} rounds; Node ${process.version}`);
  console.log('| write | CPU per write (µs) |\n| --- | --- |');
  for (const [name, us] of rows) console.log(`| ${name} | ${us.toFixed(2)} |`);
  process.exit(0);
}
