import type { ClientLimits } from '../server/client-limits';
import type { GatewayMetrics } from './metrics';

/**
 * `limits` for one transport, counting its open streams on /metrics: every
 * websocket (once `connection_init` named its client), every SSE stream and
 * every callback subscription takes a stream from the client's budget, and gives it back when it closes.
 */
export function countedStreams(limits: ClientLimits, metrics: GatewayMetrics, transport: 'websocket' | 'sse' | 'callback'): ClientLimits {
  const counted = Object.create(limits) as ClientLimits;
  const gauge = metrics.activeStreams.labels({ transport });
  counted.openStream = (client) => {
    const release = limits.openStream(client);
    if (!release) return undefined;
    gauge.inc();
    let open = true;
    return () => {
      if (open) gauge.dec();
      open = false;
      release();
    };
  };
  return counted;
}
