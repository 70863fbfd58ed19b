import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { randomUUID } from 'node:crypto';
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
  /** `url`: one gateway, or replicas that subscribers are spread over in turn. This process holds subscribers `first` to `first + count - 1`. */
  | { subscribe: { url: string | string[]; jobs: WatchedJob[]; first: number; count: number } }
  /** From now on, record receipts afresh (the measuring window starts). */
  | { record: true }
  | { report: true }
  | { close: true }
  | { cycles: { url: string; job: WatchedJob; count: number } };

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

/** Subscribers `first` to `first + count - 1` of the run: subscriber n watches job n % jobs and calls url n % urls. */
async function subscribeAll(url: string | string[], jobs: WatchedJob[], first: number, count: number): Promise<void> {
  const urls = Array.isArray(url) ? url : [url];
  for (let start = first; start < first + count; start += CONNECT_BATCH) {
    const batch = Array.from({ length: Math.min(CONNECT_BATCH, first + count - start) }, (_, i) => start + i);
    await Promise.all(batch.map((n) => subscriber(urls[n % urls.length], jobs[n % jobs.length], n % jobs.length)));
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
      const { url, jobs, first, count } = message.subscribe;
      await subscribeAll(url, jobs, first, count);
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
      reply({ closed: true });
    } else {
      const started = now();
      const { url, job, count } = message.cycles;
      await cycle(url, job, count);
      reply({ cycled: { ms: now() - started } });
    }
  })();
});
