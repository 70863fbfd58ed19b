import { z } from 'zod';
// For the `.meta` fields (group, defaultText, typeText) the configuration reference reads.
import '../settings/meta';
import type { EmulatorOptions } from './http';

/**
 * The emulator's settings, with their bounds, said once: `npm run emulator`
 * reads them all, and the gateway's configuration takes those of its embedded
 * emulator (the job length and the concurrency rule) from here.
 */
export const emulatorSettings = z.object({
  // Not LocalStack's 4566: both can run side by side.
  ER_EMULATOR_PORT: z.coerce.number().int().min(0).max(65535).default(4610).meta({ description: "the standalone emulator's port" }),
  ER_EMULATOR_HOST: z.string().min(1).default('127.0.0.1').meta({ description: 'the address the standalone emulator listens on' }),
  ER_EMULATOR_JOB_SECONDS: z.coerce.number().positive().max(86_400).default(20).meta({
    group: 'backend',
    description: 'with the emulator (embedded or standalone), how long a started job takes from QUEUED to SUCCEEDED, in seconds',
  }),
  ER_EMULATOR_LATENCY_MS: z.coerce.number().int().min(0).default(0).meta({ description: 'delay added to every answer' }),
  ER_EMULATOR_THROTTLE_RATE: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0)
    .meta({ description: 'share of requests answered with `ThrottlingException` (429)' }),
  ER_EMULATOR_ERROR_RATE: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0)
    .meta({ description: 'share of requests answered with `InternalServerException` (500)' }),
  ER_EMULATOR_RATE_LIMIT: z.coerce
    .number()
    .int()
    .min(0)
    .default(0)
    .meta({ description: 'calls per second per operation (a token bucket) past which it throttles as the service does; `0` for none' }),
  ER_EMULATOR_CONCURRENCY: z.enum(['workflow', 'region']).default('region').meta({
    group: 'backend',
    description:
      "with the emulator, which running job blocks a start: `region`, one running job of each kind per region, as the service's quotas; `workflow`, one per workflow (see [The emulator alone](emulator.md))",
  }),
  ER_EMULATOR_CONCURRENCY_ERROR: z
    .enum(['ExceedsLimitException', 'ConflictException'])
    .default('ExceedsLimitException')
    .meta({ group: 'backend', description: "with the emulator in `region` mode, what a start blocked by another workflow's job gets" }),
});

/** The settings of an emulator embedded in another process (the gateway's): the rest are the standalone emulator's. */
export const embeddedEmulatorSettings = emulatorSettings.pick({
  ER_EMULATOR_JOB_SECONDS: true,
  ER_EMULATOR_CONCURRENCY: true,
  ER_EMULATOR_CONCURRENCY_ERROR: true,
});

/** Settings the emulator cannot start with; its message has a line per bad variable. */
export class EmulatorSettingsError extends Error {}

/** The standalone emulator's options from `source` (its environment); throws EmulatorSettingsError naming every bad variable. */
export function loadEmulatorSettings(source: Record<string, string | undefined>): EmulatorOptions & { port: number; host: string } {
  const parsed = emulatorSettings.safeParse(source);
  if (!parsed.success)
    throw new EmulatorSettingsError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('\n'));
  const env = parsed.data;
  return {
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
  };
}
