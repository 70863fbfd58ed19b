/**
 * Hive Gateway with its OpenTelemetry plugin, as a platform team runs it in
 * front of er-gateway: a process of its own (its SDK, its context manager),
 * run by test/utils/hive.ts. Reads SUPERGRAPH_FILE and OTLP_TRACES_URL;
 * prints `hive ready at <url>` once it listens.
 */
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';
import { useOpenTelemetry } from '@graphql-hive/plugin-opentelemetry';
import { openTelemetrySetup } from '@graphql-hive/plugin-opentelemetry/setup';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

openTelemetrySetup({
  contextManager: new AsyncLocalStorageContextManager(),
  resource: { serviceName: 'hive-gateway' },
  traces: { exporter: new OTLPTraceExporter({ url: process.env.OTLP_TRACES_URL }), batching: false },
});
const router = createGatewayRuntime({
  supergraph: readFileSync(process.env.SUPERGRAPH_FILE!, 'utf8'),
  logging: false,
  // Subscriptions go to er-gateway's SSE endpoint over HTTP, whose fetches carry the trace context.
  transportEntries: { 'er-gateway': { options: { subscriptions: { kind: 'http', location: '/graphql/stream' } } } },
  plugins: (ctx) => [useOpenTelemetry({ ...ctx, traces: true })],
});
// eslint-disable-next-line @typescript-eslint/no-misused-promises -- the gateway's adapter answers each request and catches its own errors
const server = createServer(router);
server.listen(0, '127.0.0.1', () => console.log(`hive ready at http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`));
process.on('SIGTERM', () => {
  void Promise.resolve(router.dispose()).finally(() => process.exit(0));
});
