import 'reflect-metadata';
import { startGateway } from './app';
import { ConfigError, loadConfig } from './config';

/** `npm start`: the gateway, configured from the environment, until SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const gateway = await startGateway(config);
  const { logger } = gateway;
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
  logger.info(`er-gateway ready at ${gateway.url}/graphql`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without finishing the drain');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, drainMs: config.shutdownDrainMs }, 'shutting down: draining requests and closing websockets');
    gateway.close().then(
      () => {
        logger.info('shut down cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`er-gateway: bad configuration\n${err.message}`);
  } else {
    console.error('er-gateway: failed to start', err);
  }
  process.exit(1);
});
