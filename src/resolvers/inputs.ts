import type { OutputSourceInput } from '../schema/start';
import { badInput } from '../upstream/errors';
import { KINDS, type JobKind } from '../upstream/kinds';
import { JOB_ID, KMS_ARN, ROLE_ARN, WORKFLOW_ARN, WORKFLOW_NAME, isCanonicalS3Path } from '../upstream/patterns';
import type { JobKey, OutputSourceRecord } from '../upstream/records';

/**
 * Checks of client input against the service's own patterns, made before any
 * upstream call: a refusal here costs nothing of the service's rate limit.
 */

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** This gateway's account and region: a workflow ARN must name both. */
export interface WorkflowHome {
  region: string;
  /** Unknown (AWS mode without ER_ACCOUNT_ID): only names are taken, not ARNs. */
  accountId?: string;
}

/**
 * The workflow's name, given its name or its ARN. An ARN must be of a `kind`
 * workflow and of this gateway's account and region: nothing else is sent upstream.
 */
export function validWorkflowName(workflowName: string, kind: JobKind, home: WorkflowHome, field = 'workflowName'): string {
  const arn = WORKFLOW_ARN.exec(workflowName);
  if (!arn) {
    if (!WORKFLOW_NAME.test(workflowName))
      throw badInput(field, `${field} must be a workflow name (1 to 255 letters, digits, _ and -) or a workflow ARN.`);
    return workflowName;
  }
  const [, , region, accountId, arnType, name] = arn;
  const { arnType: expected } = KINDS[kind];
  if (arnType !== expected) throw badInput(field, `${field} is the ARN of a ${arnType}, not of a ${expected}.`);
  if (home.accountId === undefined)
    throw badInput(field, `${field} must be a workflow name: this gateway does not know its account, so it takes no ARNs.`);
  if (accountId !== home.accountId || region !== home.region) {
    throw badInput(field, `${field} is the ARN of a workflow of another account or region than this gateway's.`);
  }
  return name;
}

/** At most one output source, each part in the form the service takes. */
export function validOutputSources(sources: OutputSourceInput[] | undefined | null): OutputSourceRecord[] | undefined {
  if (sources === undefined || sources === null) return undefined;
  if (sources.length !== 1) {
    throw badInput('outputSourceConfig', "outputSourceConfig takes exactly one output source; leave it out to use the workflow's own.");
  }
  const [{ roleArn, outputS3Path, kmsArn }] = sources;
  if (!ROLE_ARN.test(roleArn)) {
    throw badInput('outputSourceConfig.roleArn', 'roleArn must be an IAM role ARN such as arn:aws:iam::123456789012:role/Name.');
  }
  if (!isCanonicalS3Path(outputS3Path)) {
    throw badInput(
      'outputSourceConfig.outputS3Path',
      'outputS3Path must be an s3://bucket/path URI with a valid bucket name, and no . or .. segments, empty segments, ?, #, % or \\.',
    );
  }
  if (kmsArn !== undefined && kmsArn !== null && !KMS_ARN.test(kmsArn)) {
    throw badInput('outputSourceConfig.kmsArn', 'kmsArn must be a KMS key ARN such as arn:aws:kms:us-east-1:123456789012:key/ID.');
  }
  return [{ roleArn, outputS3Path, kmsArn: kmsArn ?? undefined }];
}

export function validIdempotencyKey(key: string | undefined | null): string | undefined {
  if (key === undefined || key === null) return undefined;
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw badInput('idempotencyKey', 'idempotencyKey must be 1 to 255 printable ASCII characters without spaces, e.g. a UUID.');
  }
  return key;
}

export function validJobKey(workflowName: string, jobId: string, kind: JobKind, home: WorkflowHome): JobKey {
  if (!JOB_ID.test(jobId)) throw badInput('jobId', 'jobId must be 32 lowercase hexadecimal digits.');
  return { workflowName: validWorkflowName(workflowName, kind, home), jobId };
}
