import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/** The gateway's Prometheus metrics, in a registry of its own so that several gateways can share a process. */
export interface GatewayMetrics {
  registry: Registry;
  /** Every SDK call, by operation and outcome (`ok` or the error's name). */
  upstreamRequests: Counter<'operation' | 'outcome'>;
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
  };
}
