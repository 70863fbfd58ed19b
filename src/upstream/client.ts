import { EntityResolutionClient } from '@aws-sdk/client-entityresolution';
import { StandardRetryStrategy } from '@smithy/core/retry';
import type { RetryErrorInfo, RetryStrategyV2, RetryToken, StandardRetryToken } from '@smithy/types';
import type { RateGovernor } from './rate-governor';

export interface UpstreamClientOptions {
  /** Override of the service endpoint, e.g. the emulator's URL. */
  endpoint?: string;
  /** Left unset for AWS, the SDK's default chain picks the region. */
  region?: string;
  /** Static credentials (the emulator accepts any); unset, the SDK's default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Attempts per call, the first included, for calls the SDK may retry. @default 3 */
  maxAttempts?: number;
  /** How long one attempt may wait for the service's answer. @default 10000 */
  requestTimeoutMs?: number;
  /** Paces every attempt of every call; unset, calls go straight out. */
  governor?: RateGovernor;
}

/**
 * Retries a call only when the service throttled it: a throttled request did
 * nothing, so trying again cannot start a second job. Any other failure
 * (a 5xx, a reset connection, a timeout) may have happened after the service
 * acted, and is handed back at once.
 */
class ThrottlingOnlyRetryStrategy implements RetryStrategyV2 {
  private readonly standard: StandardRetryStrategy;

  constructor(maxAttempts: number) {
    this.standard = new StandardRetryStrategy(maxAttempts);
  }

  acquireInitialRetryToken(scope: string): Promise<RetryToken> {
    return this.standard.acquireInitialRetryToken(scope);
  }

  refreshRetryTokenForRetry(token: RetryToken, errorInfo: RetryErrorInfo): Promise<RetryToken> {
    if (errorInfo.errorType !== 'THROTTLING') return Promise.reject(new Error('not retried: the service may have acted'));
    return this.standard.refreshRetryTokenForRetry(token as StandardRetryToken, errorInfo);
  }

  recordSuccess(token: RetryToken): void {
    this.standard.recordSuccess(token as StandardRetryToken);
  }
}

function createClient(options: UpstreamClientOptions, retryStrategy?: RetryStrategyV2): EntityResolutionClient {
  return new EntityResolutionClient({
    endpoint: options.endpoint,
    region: options.region,
    credentials: options.credentials,
    maxAttempts: options.maxAttempts ?? 3,
    retryStrategy,
    requestHandler: { requestTimeout: options.requestTimeoutMs ?? 10_000 },
  });
}

/** The SDK clients every upstream call goes through, against AWS or the emulator alike. */
export interface UpstreamClients {
  /** Reads: retried by the SDK on throttling, 5xx and connection errors. */
  reads: EntityResolutionClient;
  /** Starts: retried on throttling only, so a start is never repeated blindly. */
  starts: EntityResolutionClient;
  destroy(): void;
}

export function createUpstreamClients(options: UpstreamClientOptions): UpstreamClients {
  const reads = createClient(options);
  const starts = createClient(options, new ThrottlingOnlyRetryStrategy(options.maxAttempts ?? 3));
  for (const client of [reads, starts]) options.governor?.govern(client);
  return {
    reads,
    starts,
    destroy: () => {
      reads.destroy();
      starts.destroy();
    },
  };
}
