import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** The gateway's Prometheus metrics, in a registry of its own so that several gateways can share a process. */
export interface GatewayMetrics {
  registry: Registry;
  /** Every SDK call, by operation and outcome (`ok` or the error's name). */
  upstreamRequests: Counter<'operation' | 'outcome'>;
  /** Open job subscriptions on this process. */
  activeSubscriptions: Gauge;
  /** Jobs this process polls for its subscribers. */
  watchedJobs: Gauge;
  /** Polls of watched jobs, by outcome (`ok` or the error code). */
  polls: Counter<'outcome'>;
}

export function createMetrics(options: { processMetrics: boolean }): GatewayMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'er_gateway_' });
  return {
    registry,
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
      help: 'Polls of watched jobs, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
