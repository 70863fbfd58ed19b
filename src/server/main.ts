import 'reflect-metadata';
import { SettingError } from '../settings/files';
import { startGateway } from './app';
import { ListenError } from './listen';
import { stdoutLog } from './log';
import { ConfigError, loadConfig } from './config';

/** How long the last log lines may take to reach stdout's reader before the process exits without them. */
const LAST_LINES_MS = 1000;

/** Past the delay and the drain, what the rest of the shutdown may take: the answers' grace, streams, Redis (the last exports have a budget of their own). */
const SHUTDOWN_MARGIN_MS = 5000;

/** Read by loadConfig, and hidden from the OTLP exporters, which would merge them anew (see main). */
const OTLP_HEADER_VARIABLES = ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', 'OTEL_EXPORTER_OTLP_METRICS_HEADERS'];

/** `npm start`: the gateway, configured from the environment, until SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  // The SDK's own notice is a multi-line stderr message on every start; the log says it once, below.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // The OTLP exporters read these again themselves and would send the general headers beside a signal's own: the config's reading, where a signal's own replace them, is the one that counts.
  for (const name of OTLP_HEADER_VARIABLES) delete process.env[name];
  const gateway = await startGateway(config);
  const { logger } = gateway;
  // Before the ready line: whoever reads it may send SIGTERM at once, which must find the handler installed.
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without finishing the drain');
      process.exit(1);
    }
    stopping = true;
    const { shutdownDelayMs: delayMs, shutdownDrainMs: drainMs } = config;
    const exportMs = (config.tracing ?? config.metricsExport)?.timeoutMs ?? 0;
    const limitMs = delayMs + drainMs + SHUTDOWN_MARGIN_MS + exportMs;
    logger.info(
      { signal, delayMs, drainMs },
      `shutting down: /readyz answers 503; serving for ${delayMs} ms more, then closing websockets and draining requests for up to ${drainMs} ms`,
    );
    // A stdout whose reader has gone drops lines (LogOutput): nothing here waits on it longer than LAST_LINES_MS.
    const exit = (code: number) =>
      void stdoutLog()
        .flush(LAST_LINES_MS)
        .then(() => process.exit(code));
    // Whatever a step waits on (a collector that never answers, a peer), the process is gone before an orchestrator's SIGKILL would cut it.
    setTimeout(() => {
      logger.error({ limitMs }, 'shutdown took too long: exiting without finishing it');
      exit(1);
    }, limitMs).unref();
    gateway.close().then(
      () => {
        logger.info('shut down cleanly');
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (Number(process.versions.node.split('.')[0]) < 22) {
    logger.warn(
      { node: process.version },
      'NODE: Node 20 runs the gateway but is past its end of life, and AWS SDK releases after January 2027 need Node 22: upgrade when you can.',
    );
  }
  if (config.backend === 'emulator') {
    logger.warn(
      { backend: 'emulator', endpoint: gateway.emulator?.url },
      'BACKEND: the embedded Entity Resolution EMULATOR with demo data (not AWS). Set ER_BACKEND=aws for the real service.',
    );
  } else {
    logger.warn(
      { backend: 'aws', region: config.region ?? '(SDK default chain)', endpoint: config.endpoint ?? '(AWS default)' },
      'BACKEND: AWS Entity Resolution',
    );
  }
  if (config.auth.modes.length > 0) {
    logger.info(
      { auth: config.auth.modes.join(','), policy: config.auth.policyFile },
      `AUTH: ${config.auth.modes.join(' or ')}, with the policy in ${config.auth.policyFile}`,
    );
  } else if (config.backend === 'aws') {
    logger.error(
      { auth: 'none' },
      'AUTH: NONE (ER_AUTH=none). Anyone who reaches this gateway reads every workflow and job of the AWS account and starts jobs with its identity.',
    );
  } else {
    logger.warn(
      { auth: 'none' },
      'AUTH: none. Every caller may do everything: fine for the embedded emulator, never for AWS (see docs/operators/securing.md).',
    );
  }
  // The message's start is what scripts and tests parse; the pages follow it, and are fields too.
  const pages = {
    ...(config.dashboard ? { dashboard: `${gateway.url}/dashboard/` } : {}),
    ...(config.ide === 'graphiql' ? { ide: `${gateway.url}/ide/` } : config.ide === 'sandbox' ? { ide: `${gateway.url}/graphql` } : {}),
  };
  const named = [pages.dashboard && `dashboard at ${pages.dashboard}`, pages.ide && `IDE at ${pages.ide}`].filter(Boolean).join(', ');
  logger.info(pages, `er-gateway ready at ${gateway.url}/graphql (metrics at ${gateway.metricsUrl}/metrics)${named ? `; ${named}` : ''}`);
}

main().catch((err: unknown) => {
  if (err instanceof ListenError) {
    console.error(`er-gateway: cannot start: ${err.message}`);
  } else if (err instanceof ConfigError || err instanceof SettingError) {
    console.error(`er-gateway: bad configuration\n${err.message}`);
  } else {
    console.error('er-gateway: failed to start', err);
  }
  process.exit(1);
});
