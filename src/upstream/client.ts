import { EntityResolutionClient } from '@aws-sdk/client-entityresolution';

export interface UpstreamClientOptions {
  /** Override of the service endpoint, e.g. the emulator's URL. */
  endpoint?: string;
  /** Left unset for AWS, the SDK's default chain picks the region. */
  region?: string;
  /** Static credentials (the emulator accepts any); unset, the SDK's default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Attempts per call, the first included, for calls the SDK may retry. @default 3 */
  maxAttempts?: number;
}

/** The SDK client every upstream call goes through, against AWS or the emulator alike. */
export function createUpstreamClient(options: UpstreamClientOptions): EntityResolutionClient {
  return new EntityResolutionClient({
    endpoint: options.endpoint,
    region: options.region,
    credentials: options.credentials,
    maxAttempts: options.maxAttempts ?? 3,
  });
}
