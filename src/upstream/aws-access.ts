import type { EntityResolutionClient } from '@aws-sdk/client-entityresolution';

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
    missing.push(`AWS credentials (${why}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a role (web identity, ECS task or EC2 instance)`);
  }
  return { region: region || undefined, missing };
}

/** Whether `err` is the SDK's failure to find a region or credentials: the gateway's setup is at fault, not the service. */
export function isAwsSetupError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'CredentialsProviderError' || err.message === 'Region is missing');
}
