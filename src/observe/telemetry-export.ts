import type { Attributes } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../server/config';
import { startMetricsExport } from './metrics-export';
import { startTracing, type Tracing } from './tracing';

/**
 * The OTLP exports, spans and metrics, as one part of the gateway: pushed
 * first on its stack, so stopped last, when every other part has stopped
 * (its spans ended, its counts final). Its dispose runs both last exports at
 * once and waits for them `ER_OTLP_EXPORT_TIMEOUT_MS` in all; past that,
 * what is left is dropped (and logged), so a collector that accepts and
 * never answers costs a shutdown that long, not one timeout per signal in
 * turn. `tracing` is undefined when tracing is off.
 */
export function startTelemetryExport(
  config: Pick<Config, 'tracing' | 'metricsExport'>,
  registry: Registry,
  resource: { version: string; instanceId: string },
  logger: Logger,
): { tracing: Tracing | undefined; dispose(): Promise<void> } {
  const traces = config.tracing && startTracing(config.tracing, resource.version, resource.instanceId);
  const metricsResource = (settings: NonNullable<Config['metricsExport']>): Attributes => ({
    'service.version': resource.version,
    'service.instance.id': resource.instanceId,
    ...settings.resourceAttributes,
    'service.name': settings.serviceName,
  });
  let metrics: { dispose(): Promise<void> } | undefined;
  try {
    metrics = config.metricsExport && startMetricsExport(config.metricsExport, registry, metricsResource(config.metricsExport));
  } catch (err) {
    void traces?.dispose();
    throw err;
  }
  const timeoutMs = (config.tracing ?? config.metricsExport)?.timeoutMs ?? 0;
  return {
    tracing: traces?.tracing,
    async dispose() {
      if (!traces && !metrics) return;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
      try {
        // A flush that fails after the budget is settled by the race's own handler: no unhandled rejection.
        const outcome = await Promise.race([Promise.all([traces?.dispose(), metrics?.dispose()]), late]);
        if (outcome === 'late')
          logger.warn({ timeoutMs }, 'the last spans and metrics were not exported within ER_OTLP_EXPORT_TIMEOUT_MS: dropped');
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
