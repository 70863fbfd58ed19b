import type { EntityResolutionClient } from '@aws-sdk/client-entityresolution';

/**
 * What the gateway needs of its AWS setup before it can call the service: a
 * region and credentials, resolved by the SDK's own chains (environment,
 * profile, web identity, container or instance role). Checked at start-up,
 * so that a missing one stops the gateway with its name rather than reaching
 * every client as "the service could not be reached".
 */
export async function missingAwsAccess(client: EntityResolutionClient): Promise<string[]> {
  const missing: string[] = [];
  try {
    if (!(await client.config.region())) throw new Error('Region is missing');
  } catch {
    missing.push('an AWS region: set AWS_REGION (or a region in the profile AWS_PROFILE names)');
  }
  try {
    await client.config.credentials();
  } catch (err) {
    const why = (err as Error).message.split('\n', 1)[0];
    missing.push(`AWS credentials (${why}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with a role (web identity, ECS task or EC2 instance)`);
  }
  return missing;
}

/** Whether `err` is the SDK's failure to find a region or credentials: the gateway's setup is at fault, not the service. */
export function isAwsSetupError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'CredentialsProviderError' || err.message === 'Region is missing');
}
