import { z } from 'zod';
import { startEmulator } from './http';

/**
 * `npm run emulator`: the emulator alone, for pointing any AWS client at it.
 * It reads its own settings: it is independent of the gateway.
 */
const settings = z
  .object({
    // Not LocalStack's 4566: both can run side by side.
    ER_EMULATOR_PORT: z.coerce.number().int().min(0).max(65535).default(4610),
    ER_EMULATOR_HOST: z.string().min(1).default('127.0.0.1'),
    ER_EMULATOR_JOB_SECONDS: z.coerce.number().positive().default(20),
    ER_EMULATOR_LATENCY_MS: z.coerce.number().int().min(0).default(0),
    ER_EMULATOR_THROTTLE_RATE: z.coerce.number().min(0).max(1).default(0),
    ER_EMULATOR_ERROR_RATE: z.coerce.number().min(0).max(1).default(0),
    ER_EMULATOR_RATE_LIMIT: z.coerce.number().int().min(0).default(0),
    ER_EMULATOR_CONCURRENCY: z.enum(['workflow', 'region']).default('region'),
    ER_EMULATOR_CONCURRENCY_ERROR: z.enum(['ExceedsLimitException', 'ConflictException']).default('ExceedsLimitException'),
  })
  .safeParse(process.env);

if (!settings.success) {
  for (const issue of settings.error.issues) console.error(`${issue.path.join('.')}: ${issue.message}`);
  process.exit(1);
}

const env = settings.data;
startEmulator({
  port: env.ER_EMULATOR_PORT,
  host: env.ER_EMULATOR_HOST,
  jobSeconds: env.ER_EMULATOR_JOB_SECONDS,
  concurrency: env.ER_EMULATOR_CONCURRENCY,
  concurrencyError: env.ER_EMULATOR_CONCURRENCY_ERROR,
  faults: {
    latencyMs: env.ER_EMULATOR_LATENCY_MS,
    throttleRate: env.ER_EMULATOR_THROTTLE_RATE,
    internalErrorRate: env.ER_EMULATOR_ERROR_RATE,
    rateLimitPerSecond: env.ER_EMULATOR_RATE_LIMIT,
  },
}).then(
  (emulator) => {
    console.log(`Entity Resolution emulator listening on ${emulator.url} (region ${emulator.state.region}, any credentials)`);
    const stop = () => void emulator.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  },
  (err: NodeJS.ErrnoException) => {
    const where = `${env.ER_EMULATOR_HOST}:${env.ER_EMULATOR_PORT}`;
    console.error(err.code === 'EADDRINUSE' ? `emulator: cannot start: ${where} is in use by another process: stop it, or set ER_EMULATOR_PORT to a free port.` : `emulator: cannot start on ${where}: ${err.message}`);
    process.exit(1);
  },
);
