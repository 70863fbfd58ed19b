import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { IdMappingJobUpdatedDocument, MatchingJobUpdatedDocument } from '../generated/graphql';

/**
 * The subscribers of the fan-out benchmark, in a process of their own so
 * that the gateway's heap holds only the gateway. One websocket per
 * subscriber, as browser tabs would open them. Driven by the parent over IPC.
 */

export interface WatchedJob {
  kind: 'idMapping' | 'matching';
  workflowName: string;
  jobId: string;
}

export type ToClients =
  /** `url`: one gateway, or replicas that subscribers are spread over in turn. */
  | { subscribe: { url: string | string[]; jobs: WatchedJob[]; count: number } }
  | { report: true }
  | { close: true }
  | { cycles: { url: string; job: WatchedJob; count: number } };

export type FromClients =
  { ready: { ms: number } } | { received: [jobIndex: number, at: number][] } | { closed: true } | { cycled: { ms: number } };

const now = () => performance.timeOrigin + performance.now();
const CONNECT_BATCH = 250;
let clients: Client[] = [];
let received: [number, number][] = [];
let recording = false;

function documentFor(job: WatchedJob): string {
  return print(job.kind === 'idMapping' ? IdMappingJobUpdatedDocument : MatchingJobUpdatedDocument);
}

function client(url: string): Client {
  return createClient({ url: url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, retryAttempts: 0, keepAlive: 0 });
}

async function subscribeAll(url: string | string[], jobs: WatchedJob[], count: number): Promise<void> {
  const urls = Array.isArray(url) ? url : [url];
  for (let start = 0; start < count; start += CONNECT_BATCH) {
    const batch = Array.from({ length: Math.min(CONNECT_BATCH, count - start) }, (_, i) => start + i);
    await Promise.all(
      batch.map(
        (n) =>
          new Promise<void>((resolve, reject) => {
            const c = client(urls[n % urls.length]);
            clients.push(c);
            const jobIndex = n % jobs.length;
            const job = jobs[jobIndex];
            let first = true;
            c.subscribe(
              { query: documentFor(job), variables: { workflowName: job.workflowName, jobId: job.jobId } },
              {
                next: () => {
                  if (first) {
                    first = false;
                    resolve();
                  } else if (recording) {
                    received.push([jobIndex, now()]);
                  }
                },
                error: reject,
                complete: () => {},
              },
            );
          }),
      ),
    );
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
      const { url, jobs, count } = message.subscribe;
      await subscribeAll(url, jobs, count);
      recording = true;
      reply({ ready: { ms: now() - started } });
    } else if ('report' in message) {
      recording = false;
      reply({ received });
      received = [];
    } else if ('close' in message) {
      await Promise.all(clients.map(async (c) => c.dispose()));
      clients = [];
      reply({ closed: true });
    } else {
      const started = now();
      const { url, job, count } = message.cycles;
      await cycle(url, job, count);
      reply({ cycled: { ms: now() - started } });
    }
  })();
});
