import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The gateway's Prometheus metrics, in a registry of its own so that several gateways can share a process. */
export interface GatewayMetrics {
  registry: Registry;
  /** Every SDK call, by operation and outcome (`ok` or the error's name). */
  upstreamRequests: Counter<'operation' | 'outcome'>;
  /** Open job subscriptions on this process. */
  activeSubscriptions: Gauge;
  /** Jobs this process polls for its subscribers. */
  watchedJobs: Gauge;
  /** Polls of watched jobs that reached the service, by outcome (`ok` or the error code). */
  polls: Counter<'outcome'>;
  /** Job events a subscriber skipped because it had fallen behind (it got the newer state instead). */
  skippedEvents: Counter;
  /** Watched jobs whose polls are failing, so subscribers hold a stale state. */
  staleJobs: Gauge;
  /** Websocket clients the gateway closed, by why (`keepalive`, `slow_consumer`). */
  droppedSockets: Counter<'reason'>;
  /** Job reads by how they were served: `hit` (cache), `shared` (a call in flight), `miss` (a new call). */
  jobReads: Counter<'result'>;
  /** Response cache lookups of HTTP queries: `hit` (answered before Apollo ran), `miss` (Apollo took the request). */
  responseCacheLookups: Counter<'result'>;
  /** How long calls waited for their turn under the rate governor. */
  rateWait: Histogram<'operation'>;
  /** Queries refused by the governor (THROTTLED) because their turn was too far off. */
  rateRefusals: Counter<'operation'>;
  limitRefusals: Counter<'limit'>;
  /** Requests and websockets refused for their credentials, by why (`missing`, `invalid`, `expired`, `unavailable`) and transport (`http`, `websocket`). */
  authFailures: Counter<'reason' | 'transport'>;
  listPolls: Counter<'outcome'>;
  /** GraphQL operations by type and name (bounded: see OperationNames), on every transport: seconds to the answer (a subscription's: to its setup). */
  operationDuration: Histogram<'type' | 'name'>;
  /** Errors sent to clients, by the operation's type and name and the error's code (masked ones as INTERNAL_SERVER_ERROR). */
  operationErrors: Counter<'type' | 'name' | 'code'>;
  /** Seconds each SDK call took, its attempts and governor waits included, by operation and outcome (`ok` or the error's name). */
  upstreamDuration: Histogram<'operation' | 'outcome'>;
  /** Open websockets that have sent `connection_init`, open SSE streams and callback subscriptions. */
  activeStreams: Gauge<'transport'>;
  /** Job states delivered to subscribers (one per subscriber per event). */
  subscriptionEvents: Counter;
  /** GraphQL executions of subscription events on websockets and SSE: one per event per distinct subscription (see SharedExecutions). */
  subscriptionExecutions: Counter;
  /** At each successful poll of a watched job: seconds since the one before (the state subscribers held was this old at most). */
  pollAge: Histogram;
  /** Tells the poll-age gauge where to read the age of the oldest state among watched jobs. */
  reportPollAge(oldestSeconds: () => number): void;
  /** Log lines dropped because stdout could not take them (its reader gone, or too far behind). */
  logLinesDropped: Counter;
  /** Messages POSTed to routers' callback URLs, by action (`check`, `next`, `complete`) and delivery (`delivered`, `gone`, `refused`, `undeliverable`). */
  callbackMessages: Counter<'action' | 'delivery'>;
  /** Callback messages dropped after their retries (network errors, timeouts, 5xx), or cut short at shutdown; each but those ends its subscription. */
  callbackMessagesDropped: Counter<'action'>;
}

/** Buckets of GraphQL operations and SDK calls, in seconds: a cached answer is sub-millisecond, an upstream call tens of ms. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(options: { processMetrics: boolean; logLinesDropped?: () => number }): GatewayMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'er_gateway_' });
  let oldestPollSeconds = () => 0;
  new Gauge({
    name: 'er_gateway_poll_age_max_seconds',
    help: 'Age of the oldest last successful poll among the jobs this process watches (0 when it watches none).',
    registers: [registry],
    collect() {
      this.set(oldestPollSeconds());
    },
  });
  const dropped = options.logLinesDropped;
  return {
    registry,
    logLinesDropped: new Counter({
      name: 'er_gateway_log_lines_dropped_total',
      help: 'Log lines dropped because stdout could not take them: its reader is gone, or too far behind.',
      registers: [registry],
      // The log output counts its own drops: it writes before any registry exists, and for the whole process.
      collect() {
        if (!dropped) return;
        this.reset();
        this.inc(dropped());
      },
    }),
    reportPollAge: (oldest) => {
      oldestPollSeconds = oldest;
    },
    operationDuration: new Histogram({
      name: 'er_gateway_operation_duration_seconds',
      help: 'GraphQL operations, by type and name (names past ER_METRICS_OPERATION_NAMES, and anonymous ones, as __other): seconds to the answer, or to a subscription set up.',
      labelNames: ['type', 'name'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    operationErrors: new Counter({
      name: 'er_gateway_operation_errors_total',
      help: "Errors sent to clients, by the operation's type and name and the error's extensions.code.",
      labelNames: ['type', 'name', 'code'],
      registers: [registry],
    }),
    upstreamDuration: new Histogram({
      name: 'er_gateway_upstream_duration_seconds',
      help: 'Calls to the Entity Resolution service, attempts and rate governor waits included, by operation and outcome.',
      labelNames: ['operation', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    callbackMessages: new Counter({
      name: 'er_gateway_callback_messages_total',
      help: "Messages POSTed to routers' callback URLs (HTTP callback subscriptions), by action and delivery.",
      labelNames: ['action', 'delivery'],
      registers: [registry],
    }),
    callbackMessagesDropped: new Counter({
      name: 'er_gateway_callback_messages_dropped_total',
      help: 'Callback messages that could not be delivered within their retries, or were cut short at shutdown, by action; each but those at shutdown ends its subscription.',
      labelNames: ['action'],
      registers: [registry],
    }),
    activeStreams: new Gauge({
      name: 'er_gateway_active_streams',
      help: 'Open websockets (past connection_init), SSE streams and callback subscriptions, by transport.',
      labelNames: ['transport'],
      registers: [registry],
    }),
    subscriptionEvents: new Counter({
      name: 'er_gateway_subscription_events_total',
      help: 'Job states delivered to subscribers, one per subscriber per event.',
      registers: [registry],
    }),
    subscriptionExecutions: new Counter({
      name: 'er_gateway_subscription_executions_total',
      help: 'GraphQL executions of subscription events (websockets, SSE and callbacks): one per event per distinct subscription, however many share it.',
      registers: [registry],
    }),
    pollAge: new Histogram({
      name: 'er_gateway_poll_age_seconds',
      help: 'At each successful poll of a watched job, the seconds since its last one.',
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
      registers: [registry],
    }),
    upstreamRequests: new Counter({
      name: 'er_gateway_upstream_requests_total',
      help: 'Calls to the Entity Resolution service, by operation and outcome.',
      labelNames: ['operation', 'outcome'],
      registers: [registry],
    }),
    activeSubscriptions: new Gauge({ name: 'er_gateway_active_subscriptions', help: 'Open job subscriptions.', registers: [registry] }),
    watchedJobs: new Gauge({ name: 'er_gateway_watched_jobs', help: 'Jobs polled for subscribers.', registers: [registry] }),
    polls: new Counter({
      name: 'er_gateway_polls_total',
      help: 'Polls of watched jobs that reached the service, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    skippedEvents: new Counter({
      name: 'er_gateway_subscription_events_skipped_total',
      help: 'Job events skipped by subscribers that had fallen behind; they got the newer state instead.',
      registers: [registry],
    }),
    staleJobs: new Gauge({ name: 'er_gateway_stale_jobs', help: 'Watched jobs whose polls are failing.', registers: [registry] }),
    droppedSockets: new Counter({
      name: 'er_gateway_websockets_dropped_total',
      help: 'Websocket clients closed by the gateway, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    jobReads: new Counter({
      name: 'er_gateway_job_reads_total',
      help: 'Job reads by how they were served: hit (cache), shared (a call in flight), miss (a new upstream call).',
      labelNames: ['result'],
      registers: [registry],
    }),
    responseCacheLookups: new Counter({
      name: 'er_gateway_response_cache_lookups_total',
      help: 'Response cache lookups by result: hit (answered before Apollo ran), miss (Apollo took the request).',
      labelNames: ['result'],
      registers: [registry],
    }),
    rateWait: new Histogram({
      name: 'er_gateway_rate_wait_seconds',
      help: 'Time calls waited for their turn under the rate governor.',
      labelNames: ['operation'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    rateRefusals: new Counter({
      name: 'er_gateway_rate_refusals_total',
      help: 'Queries refused with THROTTLED because their turn under the rate governor was too far off.',
      labelNames: ['operation'],
      registers: [registry],
    }),
    listPolls: new Counter({
      name: 'er_gateway_list_polls_total',
      help: 'Polls of live job lists that reached the service, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'er_gateway_auth_failures_total',
      help: 'Requests and websockets refused for their credentials, by reason and transport.',
      labelNames: ['reason', 'transport'],
      registers: [registry],
    }),
    limitRefusals: new Counter({
      name: 'er_gateway_limit_refusals_total',
      help: "Operations, subscriptions and sockets refused at one of the gateway's limits, by limit.",
      labelNames: ['limit'],
      registers: [registry],
    }),
  };
}
