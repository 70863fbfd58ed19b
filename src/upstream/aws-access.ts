import type { EntityResolutionClient } from '@aws-sdk/client-entityresolution';
import type { Logger } from 'pino';

/**
 * What the gateway needs of its AWS setup before it can call the service: a
 * region and credentials, resolved by the SDK's own chains (environment,
 * profile, web identity, container or instance role). Checked at start-up,
 * so that a missing one stops the gateway with its name rather than reaching
 * every client as "the service could not be reached". Says the region it
 * found, and what is missing.
 */
export async function resolveAwsAccess(client: EntityResolutionClient): Promise<{ region?: string; missing: string[] }> {
  const missing: string[] = [];
  const region = await client.config.region().catch(() => undefined);
  if (!region) missing.push('an AWS region: set AWS_REGION (or a region in the profile AWS_PROFILE names)');
  try {
    await client.config.credentials();
  } catch (err) {
    const why = (err as Error).message.split('\n', 1)[0];
    missing.push(
      `AWS credentials (${why}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a role (web identity, ECS task or EC2 instance)`,
    );
  }
  return { region: region || undefined, missing };
}

/** Whether `err` is the SDK's failure to find a region or credentials: the gateway's setup is at fault, not the service. */
export function isAwsSetupError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'CredentialsProviderError' || err.message === 'Region is missing');
}

/** How often a gateway started without AWS access looks again for a region and credentials. @default 30000 */
export const AWS_RECHECK_MS = 30_000;

/** What start-up learnt of the AWS access, and the loop that looks again while it is missing. */
export interface AwsAccess {
  /** The region the SDK resolved. */
  region?: string;
  /** Set when the gateway must not start: the line saying what is missing. */
  refusal?: string;
  /** Whether a region and credentials resolve (now): `/readyz` asks it. */
  ready(): boolean;
  /** Stops looking again. */
  dispose(): void;
}

/** Time as the recheck loop needs it: the watcher's scheduler. */
interface After {
  after(ms: number, task: () => unknown): () => void;
}

/**
 * Resolves the SDK's region and credentials once, and says the region.
 * Missing, it is a refusal to start, naming what is missing; with
 * `startWithoutAws` the gateway starts, logs it, reports not ready, and
 * looks again every AWS_RECHECK_MS until they resolve.
 */
export async function checkAwsAccess(
  client: EntityResolutionClient,
  startWithoutAws: boolean,
  logger: Logger,
  scheduler: After,
): Promise<AwsAccess> {
  const { region, missing } = await resolveAwsAccess(client);
  if (missing.length === 0) return { region, ready: () => true, dispose: () => undefined };
  const problem = `ER_BACKEND=aws needs ${missing.join('; and ')}.`;
  if (!startWithoutAws)
    return { refusal: `${problem} (ER_START_WITHOUT_AWS=true starts anyway, not ready.)`, ready: () => false, dispose: () => undefined };
  logger.error(
    { missing },
    `AWS: ${problem} Starting anyway (ER_START_WITHOUT_AWS): /readyz is 503 and clients get GATEWAY_MISCONFIGURED until it is fixed.`,
  );
  let ready = false;
  let cancel: (() => void) | undefined;
  const again = () => {
    cancel = scheduler.after(AWS_RECHECK_MS, () =>
      resolveAwsAccess(client).then((still) => {
        if (still.missing.length === 0) {
          ready = true;
          logger.info('AWS: a region and credentials resolve now; ready');
        } else again();
      }),
    );
  };
  again();
  return { region, ready: () => ready, dispose: () => cancel?.() };
}
