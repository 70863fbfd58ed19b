import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CallbackConnections, DEFAULT_RETRIES, deliver } from '../src/server/callback-delivery';
import { loadConfig } from '../src/server/config';
import { realScheduler } from '../src/watch/scheduler';
import { until } from './utils/wait';

/**
 * ER_CALLBACK_CONNECTIONS: the connections callback messages go out on, per
 * router origin. A message holds its connection until its answer comes, so
 * past the pool's size messages wait their turn in it rather than open more.
 */

let server: Server;
let url: URL;
let connections = 0;
const held: ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.once('end', () => held.push(res));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/callback/one`);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test('three messages to one router with two connections: two are sent, the third waits in the pool, then goes out on one of the two', async () => {
  const pool = new CallbackConnections(2);
  const target = { url, id: 'sub-1', verifier: 'v-1' };
  const signal = new AbortController().signal;
  const sent = [1, 2, 3].map(() =>
    deliver(target, { action: 'check' }, { ...DEFAULT_RETRIES, budgetMs: 10_000 }, pool, realScheduler, signal),
  );
  // The pool's queue is Node's own (Agent#requests): the third request is in it, not on a connection.
  await until(() => held.length === 2);
  const waiting = Object.values(pool.for(url).requests).reduce((sum, queue) => sum + (queue?.length ?? 0), 0);
  expect({ held: held.length, waiting, connections }).toEqual({ held: 2, waiting: 1, connections: 2 });
  for (const res of held.splice(0)) res.writeHead(204).end();
  await until(() => held.length === 1);
  held.splice(0)[0].writeHead(204).end();
  expect(await Promise.all(sent)).toEqual(['delivered', 'delivered', 'delivered']);
  expect(connections).toBe(2);
  pool.destroy();
});

test('ER_CALLBACK_CONNECTIONS is 64 unless set, and must be a whole number from 1 to 4096', () => {
  expect(loadConfig({}).callbackConnections).toBe(64);
  expect(loadConfig({ ER_CALLBACK_CONNECTIONS: '256' }).callbackConnections).toBe(256);
  expect(() => loadConfig({ ER_CALLBACK_CONNECTIONS: '0' })).toThrow(/ER_CALLBACK_CONNECTIONS/);
  expect(() => loadConfig({ ER_CALLBACK_CONNECTIONS: '5000' })).toThrow(/ER_CALLBACK_CONNECTIONS/);
});
