import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtobufExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { Registry } from 'prom-client';
import type { Config } from '../server/config';

/** OTLP export of the metrics, from OTEL_METRICS_EXPORTER and the OTLP variables (see config.ts); undefined when off. */
export type MetricsExportSettings = NonNullable<Config['metricsExport']>;

type Sample = { value: number; labels: Record<string, string | number>; metricName?: string };

/** The unit a Prometheus name's suffix says, in UCUM as OTLP writes units (`s`, `By`), or none. */
function unitOf(name: string): string {
  if (/_seconds(_total)?$/.test(name)) return 's';
  if (/_bytes(_total)?$/.test(name)) return 'By';
  return '';
}

/**
 * Hands OpenTelemetry the metrics of a prom-client registry as they are on
 * /metrics, under their Prometheus names: a counter as a cumulative
 * monotonic sum, a gauge as a gauge, a histogram as a cumulative histogram
 * with the same bucket bounds (Prometheus's cumulative `le` counts made
 * per-bucket, as OTLP counts them), labels as attributes. Summaries (none of
 * the gateway's own) are left out. One registry, one source of truth:
 * nothing is counted twice.
 */
class PrometheusProducer implements MetricProducer {
  /** Cumulative sums and histograms count from the registry's creation, near enough the process's start. */
  private readonly startTime: HrTime = millisToHrTime(Date.now());

  constructor(
    private readonly registry: Registry,
    private readonly resource: Resource,
  ) {}

  async collect(): Promise<CollectionResult> {
    const endTime = millisToHrTime(Date.now());
    const metrics: MetricData[] = [];
    const errors: unknown[] = [];
    for (const metric of await this.registry.getMetricsAsJSON()) {
      const descriptor = { name: metric.name, description: metric.help, unit: unitOf(metric.name), valueType: ValueType.DOUBLE };
      const samples = metric.values as Sample[];
      const point = <T>(labels: Attributes, value: T): DataPoint<T> => ({ startTime: this.startTime, endTime, attributes: labels, value });
      // prom-client types `type` as a numeric enum, but its JSON carries the name.
      switch (metric.type as unknown as string) {
        case 'counter':
          metrics.push({
            descriptor,
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.SUM,
            isMonotonic: true,
            dataPoints: samples.map((sample) => point(sample.labels, sample.value)),
          });
          break;
        case 'gauge':
          metrics.push({
            descriptor,
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.GAUGE,
            dataPoints: samples.map((sample) => point(sample.labels, sample.value)),
          });
          break;
        case 'histogram':
          metrics.push({
            descriptor,
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.HISTOGRAM,
            dataPoints: histogramPoints(metric.name, samples).map(({ labels, value }) => point(labels, value)),
          });
          break;
        default:
          break;
      }
    }
    return { resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: { name: 'er-gateway' }, metrics }] }, errors };
  }
}

/** One histogram's series from prom-client's samples (`_bucket` by `le`, `_sum`, `_count`, per label set). */
function histogramPoints(name: string, samples: Sample[]): { labels: Attributes; value: Histogram }[] {
  const series = new Map<string, { labels: Attributes; buckets: [number, number][]; sum: number; count: number }>();
  for (const sample of samples) {
    const { le, ...labels } = sample.labels;
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
    let entry = series.get(key);
    if (!entry) {
      entry = { labels, buckets: [], sum: 0, count: 0 };
      series.set(key, entry);
    }
    if (sample.metricName === `${name}_bucket`) entry.buckets.push([le === '+Inf' ? Infinity : Number(le), sample.value]);
    else if (sample.metricName === `${name}_sum`) entry.sum = sample.value;
    else if (sample.metricName === `${name}_count`) entry.count = sample.value;
  }
  return [...series.values()].map(({ labels, buckets, sum, count }) => {
    buckets.sort(([a], [b]) => a - b);
    const boundaries = buckets.filter(([bound]) => bound !== Infinity).map(([bound]) => bound);
    // Prometheus counts each bucket with all below it; OTLP counts each on its own, the last one past the highest bound.
    const counts = [...boundaries.map((_, i) => buckets[i][1] - (i > 0 ? buckets[i - 1][1] : 0)), count - (buckets.at(-2)?.[1] ?? 0)];
    return { labels, value: { buckets: { boundaries, counts }, sum, count } };
  });
}

/**
 * Exports the registry's metrics over OTLP/HTTP every `intervalMs`, beside
 * the Prometheus listener (which stays). Its dispose exports once more, so
 * the last interval's counts are not lost at shutdown, then stops.
 */
export function startMetricsExport(
  settings: MetricsExportSettings,
  registry: Registry,
  resourceAttributes: Attributes,
): { dispose(): Promise<void> } {
  const Exporter = settings.protocol === 'http/json' ? JsonExporter : ProtobufExporter;
  const resource = resourceFromAttributes(resourceAttributes);
  const reader = new PeriodicExportingMetricReader({
    exporter: new Exporter({ url: settings.endpoint, headers: settings.headers, timeoutMillis: settings.timeoutMs }),
    exportIntervalMillis: settings.intervalMs,
    exportTimeoutMillis: Math.min(settings.intervalMs, settings.timeoutMs),
    metricProducers: [new PrometheusProducer(registry, resource)],
  });
  const provider = new MeterProvider({ resource, readers: [reader] });
  return { dispose: () => provider.shutdown() };
}
