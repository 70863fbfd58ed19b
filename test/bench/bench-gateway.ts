import { startGateway, type Gateway } from '../../src/server/app';
import { loadConfig } from '../../src/server/config';
import { MANY_USERS_ONE_ADDRESS } from './soak';

/** How often the fan-out benches' watched jobs are polled. */
export const INTERVAL_MS = 1000;

/** Wall-clock milliseconds, comparable across the bench's processes. */
export const now = () => performance.timeOrigin + performance.now();

/**
 * An in-process gateway with its embedded emulator, as the fan-out benches
 * run it: jobs that last 90 s, polled every INTERVAL_MS, many users behind one
 * address, plus `env`. Each answered Get is timed into `answers` by job id
 * (delivery latency counts from there), and the gateway is closed after `run`.
 */
export async function withBenchGateway<T>(
  answers: Map<string, number[]>,
  env: Record<string, string>,
  run: (gateway: Gateway) => Promise<T>,
): Promise<T> {
  const config = loadConfig({
    PORT: '0',
    ER_METRICS_PORT: '0',
    LOG_LEVEL: 'silent',
    ER_EMULATOR_JOB_SECONDS: '90',
    ER_POLL_INTERVAL_MS: String(INTERVAL_MS),
    ...MANY_USERS_ONE_ADDRESS,
    ...env,
  });
  const gateway = await startGateway(config, {
    processMetrics: false,
    emulator: {
      onAnswer: (operation, { jobId }, status) => {
        if (status === 200 && jobId && operation.startsWith('Get')) answers.set(jobId, [...(answers.get(jobId) ?? []), now()]);
      },
    },
  });
  try {
    return await run(gateway);
  } finally {
    await gateway.close();
  }
}
