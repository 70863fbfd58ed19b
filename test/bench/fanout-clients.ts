import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { randomUUID } from 'node:crypto';
import { request, type ClientRequest } from 'node:http';
import WebSocket from 'ws';
import { IdMappingJobUpdatedDocument, MatchingJobUpdatedDocument } from '../generated/graphql';

/**
 * The subscribers of the fan-out benchmark, in processes of their own so
 * that the gateway's heap and CPU hold only the gateway; the parent spreads
 * them over several such processes. One websocket per subscriber, as browser
 * tabs would open them. Driven by the parent over IPC.
 */

export interface WatchedJob {
  kind: 'idMapping' | 'matching';
  workflowName: string;
  jobId: string;
}

export type ToClients =
  /**
   * `url`: one gateway, or replicas that subscribers are spread over in turn. This process holds subscribers `first` to `first + count - 1`,
   * over `transport` (default `ws`: graphql-transport-ws; `sse`: GraphQL over SSE, one POST each).
   */
  | { subscribe: { url: string | string[]; jobs: WatchedJob[]; first: number; count: number; transport?: Transport } }
  /** From now on, record receipts afresh (the measuring window starts). */
  | { record: true }
  | { report: true }
  | { close: true }
  | { cycles: { url: string; job: WatchedJob; count: number } };

export type Transport = 'ws' | 'sse';

export type FromClients =
  | { ready: { ms: number } }
  | { recording: true }
  /** `cpuMs`: this process's CPU time (user and system) while it recorded. */
  | { received: [jobIndex: number, at: number][]; cpuMs: number }
  | { closed: true }
  | { cycled: { ms: number } };

const now = () => performance.timeOrigin + performance.now();
const CONNECT_BATCH = 250;
let sockets: WebSocket[] = [];
let streams: ClientRequest[] = [];
let received: [number, number][] = [];
let recording = false;
let cpuAtStart = process.cpuUsage();

function documentFor(job: WatchedJob): string {
  return print(job.kind === 'idMapping' ? IdMappingJobUpdatedDocument : MatchingJobUpdatedDocument);
}

function client(url: string): Client {
  return createClient({ url: url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, retryAttempts: 0, keepAlive: 0 });
}

/**
 * One subscriber on a websocket of its own, speaking graphql-transport-ws itself rather than through graphql-ws's client:
 * the receipt of an event is timed when its frame arrives, before any parsing, so that what is measured is the
 * gateway's delivery and the clients' own work stays small. Each subscription has an id of its own, as real clients' do.
 */
function subscriber(url: string, job: WatchedJob, jobIndex: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws', {
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    sockets.push(socket);
    let subscribed = false;
    socket.once('open', () => socket.send('{"type":"connection_init"}'));
    socket.once('error', reject);
    socket.once('close', (code) => {
      if (!subscribed) reject(new Error(`socket closed with ${code} before the first event`));
    });
    socket.on('message', (data: Buffer) => {
      if (subscribed) {
        if (recording && data.includes(NEXT)) received.push([jobIndex, now()]);
        return;
      }
      const message = JSON.parse(String(data)) as { type: string; payload?: unknown };
      if (message.type === 'connection_ack') {
        const payload = { query: documentFor(job), variables: { workflowName: job.workflowName, jobId: job.jobId } };
        socket.send(JSON.stringify({ id: randomUUID(), type: 'subscribe', payload }));
      } else if (message.type === 'next') {
        subscribed = true;
        resolve();
      } else {
        reject(new Error(`unexpected first message: ${String(data)}`));
      }
    });
  });
}

const NEXT = Buffer.from('"type":"next"');
const SSE_NEXT = Buffer.from('event: next');

/** How many times `needle` occurs in `chunk`. */
function occurrences(chunk: Buffer, needle: Buffer): number {
  let found = 0;
  for (let at = chunk.indexOf(needle); at >= 0; at = chunk.indexOf(needle, at + needle.length)) found++;
  return found;
}

/**
 * One subscriber over SSE (a POST answered with text/event-stream), its receipts timed when a chunk arrives, before any
 * parsing, as the websocket subscriber's are.
 */
function sseSubscriber(url: string, job: WatchedJob, jobIndex: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const body = JSON.stringify({ query: documentFor(job), variables: { workflowName: job.workflowName, jobId: job.jobId } });
    let subscribed = false;
    const req = request(
      `${url}/graphql`,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        if (res.statusCode !== 200) reject(new Error(`SSE subscription answered ${res.statusCode}`));
        res.on('data', (chunk: Buffer) => {
          const nexts = occurrences(chunk, SSE_NEXT);
          if (subscribed) {
            if (recording) for (let i = 0, at = now(); i < nexts; i++) received.push([jobIndex, at]);
          } else if (nexts > 0) {
            subscribed = true;
            resolve();
          } else if (chunk.includes('event: complete')) {
            reject(new Error(`the stream completed before its first event: ${String(chunk)}`));
          }
        });
        res.once('end', () => {
          if (!subscribed) reject(new Error('the stream ended before its first event'));
        });
      },
    );
    streams.push(req);
    req.once('error', (err) => {
      if (!subscribed) reject(err);
    });
    req.end(body);
  });
}

/** Subscribers `first` to `first + count - 1` of the run: subscriber n watches job n % jobs and calls url n % urls. */
async function subscribeAll(url: string | string[], jobs: WatchedJob[], first: number, count: number, transport: Transport): Promise<void> {
  const urls = Array.isArray(url) ? url : [url];
  const open = transport === 'sse' ? sseSubscriber : subscriber;
  for (let start = first; start < first + count; start += CONNECT_BATCH) {
    const batch = Array.from({ length: Math.min(CONNECT_BATCH, first + count - start) }, (_, i) => start + i);
    await Promise.all(batch.map((n) => open(urls[n % urls.length], jobs[n % jobs.length], n % jobs.length)));
  }
}

async function cycle(url: string, job: WatchedJob, count: number): Promise<void> {
  const c = client(url);
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve, reject) => {
      const stop = c.subscribe(
        { query: documentFor(job), variables: { workflowName: job.workflowName, jobId: job.jobId } },
        {
          next: () => {
            stop();
            resolve();
          },
          error: reject,
          complete: () => {},
        },
      );
    });
  }
  await c.dispose();
}

const reply = (message: FromClients) => process.send?.(message);

process.on('message', (message: ToClients) => {
  void (async () => {
    if ('subscribe' in message) {
      const started = now();
      const { url, jobs, first, count, transport = 'ws' } = message.subscribe;
      await subscribeAll(url, jobs, first, count, transport);
      recording = true;
      cpuAtStart = process.cpuUsage();
      reply({ ready: { ms: now() - started } });
    } else if ('record' in message) {
      received = [];
      recording = true;
      cpuAtStart = process.cpuUsage();
      reply({ recording: true });
    } else if ('report' in message) {
      recording = false;
      const cpu = process.cpuUsage(cpuAtStart);
      reply({ received, cpuMs: (cpu.user + cpu.system) / 1000 });
      received = [];
    } else if ('close' in message) {
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((closed) => {
              if (socket.readyState === WebSocket.CLOSED) return closed();
              socket.once('close', () => closed());
              socket.close(1000);
            }),
        ),
      );
      sockets = [];
      await Promise.all(
        streams.map(
          (stream) =>
            new Promise<void>((closed) => {
              if (stream.destroyed) return closed();
              stream.once('close', () => closed());
              stream.destroy();
            }),
        ),
      );
      streams = [];
      reply({ closed: true });
    } else {
      const started = now();
      const { url, job, count } = message.cycles;
      await cycle(url, job, count);
      reply({ cycled: { ms: now() - started } });
    }
  })();
});
