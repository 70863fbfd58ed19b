import { ApolloClient, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { Client as UrqlClient, subscriptionExchange } from '@urql/core';
import { createClient as createSseClient } from 'graphql-sse';
import { createClient, type Client } from 'graphql-ws';
import { setTimeout as sleep } from 'node:timers/promises';
import { onEnd, pipe, subscribe } from 'wonka';
import WebSocket from 'ws';
import type { Emulator } from '../../src/emulator/http';
import { seededJobId } from '../../src/emulator/seed';
import { awsBackendEnv, closedPort } from './gateway';
import { startLoadBalancer, type LoadBalancer } from './haproxy';
import { startGatewayProcess, type GatewayProcess } from './process';

/**
 * A rolling restart under load, as a deploy does it: two gateway processes
 * (one Redis prefix, one emulator, so jobs are the same on both) behind
 * HAProxy, whose health checks read /readyz; a steady stream of queries and
 * subscribers of one running job through HAProxy; then each replica in turn
 * is sent SIGTERM, and a new one started on its port once it has exited.
 * The job ends after both restarts, once every subscriber has reconnected
 * and had the current state. Everything waits for events: HAProxy's view of
 * each server (its stats socket), ready lines, subscription messages.
 */
export interface RollingOptions {
  emulator: Emulator;
  redisUrl: string;
  prefix: string;
  /** ER_SHUTDOWN_DELAY_MS of every replica. */
  delayMs: number;
  /** graphql-ws clients; with each of Apollo Client and urql over them, a tenth of these (graphql-ws's settings are theirs). */
  wsSubscribers: number;
  sseSubscribers: number;
  /** Queries in flight at any time: each worker sends its next as soon as the last is answered. */
  queryWorkers: number;
  /** HAProxy's `option redispatch`. @default false */
  redispatch?: boolean;
  /** The replicas restarted, in turn. @default both */
  restart?: ('g1' | 'g2')[];
}

export interface RollingRun {
  /** Queries answered 200 with data and no errors. */
  succeeded: number;
  /** Every other query: why it failed (HTTP status and body, or the network error), and in which phase of the restart. */
  failures: string[];
  /** Queries in flight through HAProxy at each SIGTERM. */
  inFlightAtSignal: number[];
  /** Per restart, ms from SIGTERM until HAProxy marked the replica down, and until it exited. */
  downAfterMs: number[];
  exitAfterMs: number[];
  /** Exit codes of the replicas sent SIGTERM. */
  exits: (number | string)[];
  subscribers: SubscriberRecord[];
}

/** What one subscriber saw. */
export interface SubscriberRecord {
  transport: 'graphql-ws' | 'apollo' | 'urql' | 'sse';
  /** The statuses of its events, in order, across reconnects. */
  statuses: string[];
  /** Connections lost (and so reconnected). */
  reconnects: number;
  completed: boolean;
  failure?: unknown;
}

/** graphql-ws's reconnect settings as docs/frontend/live-updates.md gives them: retry on every close but a refusal, with jittered backoff. */
export function reconnectingWsClient(url: string): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: async (retries) => sleep(Math.random() * Math.min(10_000, 500 * 2 ** retries)),
  });
}

const UPDATES = 'subscription ($w: String!, $j: ID!) { idMappingJobUpdated(workflowName: $w, jobId: $j) { status } }';
const QUERY = JSON.stringify({
  query: `{ idMappingJob(workflowName: "customer-id-map", jobId: "${seededJobId('customer-id-map', 3)}") { status } }`,
});

export async function rollingRestart(options: RollingOptions): Promise<RollingRun> {
  const { emulator } = options;
  const names = ['g1', 'g2'] as const;
  const ports = { lb: await closedPort(), g1: await closedPort(), g2: await closedPort() };
  const env = (port: number) => ({
    ...awsBackendEnv(emulator.url, emulator.state.region),
    PORT: String(port),
    ER_ACCOUNT_ID: emulator.state.accountId,
    ER_REDIS_URL: options.redisUrl,
    ER_REDIS_PREFIX: options.prefix,
    ER_POLL_INTERVAL_MS: '250',
    ER_SHUTDOWN_DELAY_MS: String(options.delayMs),
    ER_SHUTDOWN_DRAIN_MS: '5000',
    // HAProxy forwards the client's address; every client here is on loopback, so they share one client's budget.
    ER_TRUST_PROXY: 'loopback',
    ER_STREAMS_PER_CLIENT: '10000',
    // /readyz pings Redis within this time. On this machine, shared with other work, the replica left alone with every
    // subscriber's reconnect can take more than the default second to answer: two such checks would mark it down too.
    ER_REDIS_COMMAND_TIMEOUT_MS: '5000',
  });
  const [g1, g2] = await Promise.all([startGatewayProcess(env(ports.g1)), startGatewayProcess(env(ports.g2))]);
  const replicas: Record<(typeof names)[number], GatewayProcess> = { g1, g2 };
  const disposals: (() => unknown)[] = [];
  let lb: LoadBalancer | undefined;
  try {
    // Servers are marked down after two failed checks 400 ms apart: a delay of two seconds or more covers it.
    lb = await startLoadBalancer({
      port: ports.lb,
      servers: { g1: ports.g1, g2: ports.g2 },
      interMs: 400,
      fall: 2,
      rise: 2,
      redispatch: options.redispatch,
    });
    await Promise.all(names.map((name) => lb!.until(name, 'UP')));

    const job = emulator.state.holdRunning('idMapping', 'loyalty-id-map');
    const variables = { w: job.workflowName, j: job.jobId };
    /** Per subscriber: whether it has had an event since it last (re)connected. */
    const fresh: boolean[] = [];
    const records: SubscriberRecord[] = [];
    /** Waits until `condition` holds, looking again at each message, end or answer. */
    let waiting: (() => void)[] = [];
    const notify = () => {
      const wake = waiting;
      waiting = [];
      for (const resolve of wake) resolve();
    };
    const until = async (condition: () => boolean) => {
      while (!condition()) await new Promise<void>((resolve) => waiting.push(resolve));
    };
    const sink = (i: number) => ({
      next: (result: { data?: unknown }) => {
        records[i].statuses.push(
          (result.data as { idMappingJobUpdated?: { status: string } } | undefined)?.idMappingJobUpdated?.status ?? 'error',
        );
        fresh[i] = true;
        notify();
      },
      error: (err: unknown) => {
        records[i].failure = err;
        notify();
      },
      complete: () => {
        records[i].completed = true;
        notify();
      },
    });
    const lost = (i: number) => {
      records[i].reconnects++;
      fresh[i] = false;
    };
    const tenth = Math.floor(options.wsSubscribers / 10);
    for (let i = 0; i < options.wsSubscribers + options.sseSubscribers; i++) {
      const transport = i < tenth ? 'apollo' : i < 2 * tenth ? 'urql' : i < options.wsSubscribers ? 'graphql-ws' : 'sse';
      records.push({ transport, statuses: [], reconnects: 0, completed: false });
      fresh.push(false);
      if (transport !== 'sse') {
        const client = reconnectingWsClient(`${lb.url.replace(/^http/, 'ws')}/graphql`);
        // A lazy client closes its socket once its subscription has completed: that is no loss.
        client.on('closed', () => records[i].completed || lost(i));
        disposals.push(() => client.dispose());
        if (transport === 'graphql-ws') client.subscribe({ query: UPDATES, variables }, sink(i));
        else if (transport === 'apollo') {
          // Apollo Client as docs/frontend/clients.md sets it up, its subscriptions on the reconnecting graphql-ws client.
          const apollo = new ApolloClient({ cache: new InMemoryCache(), link: new GraphQLWsLink(client) });
          const subscription = apollo.subscribe({ query: gql(UPDATES), variables }).subscribe(sink(i));
          disposals.push(() => subscription.unsubscribe());
        } else {
          const urql = new UrqlClient({
            url: `${lb.url}/graphql`,
            exchanges: [
              subscriptionExchange({
                forwardSubscription: (request) => ({
                  subscribe: (observer) => ({ unsubscribe: client.subscribe({ ...request, query: request.query ?? '' }, observer) }),
                }),
              }),
            ],
          });
          const { next, complete } = sink(i);
          // At a subscription's end urql hands the last result on once more, with hasNext: false: not an event of the gateway's.
          const events = (result: { data?: unknown; hasNext?: boolean }) => result.hasNext !== false && next(result);
          const { unsubscribe } = pipe(urql.subscription(UPDATES, variables), onEnd(complete), subscribe(events));
          disposals.push(unsubscribe);
        }
      } else {
        // graphql-sse's settings as docs/frontend/live-updates.md gives them.
        const client = createSseClient({
          url: `${lb.url}/graphql/stream`,
          retryAttempts: Infinity,
          retry: async (retries) => sleep(Math.random() * Math.min(10_000, 500 * 2 ** retries)),
        });
        client.subscribe({ query: UPDATES, variables }, sink(i), { connecting: (reconnecting) => reconnecting && lost(i) });
        disposals.push(() => client.dispose());
      }
    }
    await until(() => fresh.every(Boolean));

    let stopped = false;
    let inFlight = 0;
    const run: RollingRun = {
      succeeded: 0,
      failures: [],
      inFlightAtSignal: [],
      downAfterMs: [],
      exitAfterMs: [],
      exits: [],
      subscribers: records,
    };
    /** What the restart is doing, named in each failure. */
    let phase = 'steady';
    const worker = async () => {
      while (!stopped) {
        inFlight++;
        try {
          const res = await fetch(`${lb!.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: QUERY });
          const text = await res.text();
          let body: { data?: { idMappingJob?: { status: string } }; errors?: unknown[] } | undefined;
          try {
            body = JSON.parse(text) as typeof body;
          } catch {
            // HAProxy's own answers are HTML.
          }
          if (res.status === 200 && body?.data?.idMappingJob?.status === 'SUCCEEDED' && !body.errors) run.succeeded++;
          else
            run.failures.push(
              `HTTP ${res.status} (${phase}): ${text
                .replace(/<[^>]+>|\s+/g, ' ')
                .trim()
                .slice(0, 60)}`,
            );
        } catch (err) {
          run.failures.push(`${String((err as { cause?: { code?: string } }).cause?.code ?? err)} (${phase})`);
        } finally {
          inFlight--;
          notify();
        }
      }
    };
    const workers = Array.from({ length: options.queryWorkers }, worker);
    const answeredSoFar = () => run.succeeded + run.failures.length;
    const more = async (count: number) => {
      const target = answeredSoFar() + count;
      await until(() => answeredSoFar() >= target);
    };
    await more(50);

    for (const name of options.restart ?? names) {
      const old = replicas[name];
      run.inFlightAtSignal.push(inFlight);
      const signalled = performance.now();
      phase = `${name} stopping`;
      old.child.kill('SIGTERM');
      await lb.until(name, 'DOWN');
      phase = `${name} down`;
      run.downAfterMs.push(performance.now() - signalled);
      run.exits.push(await old.exited);
      run.exitAfterMs.push(performance.now() - signalled);
      phase = `${name} exited`;
      replicas[name] = await startGatewayProcess(env(ports[name]));
      phase = `${name} restarted`;
      await lb.until(name, 'UP');
      phase = `${name} up`;
      // Every subscriber the old replica held has reconnected (to the other) and had the current state.
      await until(() => fresh.every(Boolean));
      await more(50);
    }

    // The job ends after the restarts: every subscriber sees it end once, wherever it is now.
    const { job: held, view } = emulator.state.getJob('idMapping', job.workflowName, job.jobId);
    held.run = { status: 'SUCCEEDED', endTime: Date.now(), metrics: view.metrics };
    await until(() => records.every((r) => r.completed || r.failure !== undefined));
    stopped = true;
    await Promise.all(workers);
    return run;
  } finally {
    await Promise.all(disposals.map((dispose) => dispose()));
    await lb?.close();
    for (const replica of Object.values(replicas)) {
      if (replica.child.exitCode === null && replica.child.signalCode === null) {
        replica.child.kill('SIGKILL');
        await replica.exited;
      }
    }
  }
}
