import { badInput } from '../upstream/errors';
import type { JobKey } from '../upstream/records';
import { MAX_PAGE_SIZE } from '../schema/connection';

/**
 * Checks of client input against the service's own patterns, made before any
 * upstream call: a refusal here costs nothing of the service's rate limit.
 */

const JOB_ID = /^[a-f0-9]{32}$/;
const WORKFLOW_NAME = /^[a-zA-Z_0-9\-=+/]{1,255}$/;
const WORKFLOW_ARN = /^arn:(aws|aws-us-gov|aws-cn):entityresolution:[a-z]{2}-[a-z]{1,10}-[0-9]:[0-9]{12}:(idmappingworkflow|matchingworkflow)\/[a-zA-Z_0-9-]{1,255}$/;
const MAX_CURSOR_LENGTH = 2048;
const MAX_UPSTREAM_TOKEN_LENGTH = 1024;

export function validWorkflowName(workflowName: string, field = 'workflowName'): string {
  if (!WORKFLOW_NAME.test(workflowName) && !WORKFLOW_ARN.test(workflowName)) {
    throw badInput(field, `${field} must be 1 to 255 characters of letters, digits and _-=+/, or a workflow ARN.`);
  }
  return workflowName;
}

export function validJobKey(workflowName: string, jobId: string): JobKey {
  if (!JOB_ID.test(jobId)) throw badInput('jobId', 'jobId must be 32 lowercase hexadecimal digits.');
  return { workflowName: validWorkflowName(workflowName), jobId };
}

/** Where a page starts upstream: the page token, and how many of its items were already seen. */
export interface ListPosition {
  nextToken?: string;
  skip: number;
}

export interface PageQuery {
  first: number;
  position: ListPosition;
}

export function encodeCursor(position: ListPosition): string {
  return Buffer.from(JSON.stringify([position.nextToken ?? null, position.skip])).toString('base64url');
}

function decodeCursor(cursor: string): ListPosition {
  const invalid = badInput('after', 'after is not a cursor this gateway issued.');
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH) throw invalid;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw invalid;
  const [token, skip] = parsed as unknown[];
  const tokenOk = token === null || (typeof token === 'string' && token.length > 0 && token.length <= MAX_UPSTREAM_TOKEN_LENGTH);
  if (!tokenOk || typeof skip !== 'number' || !Number.isInteger(skip) || skip < 0 || skip > 25) throw invalid;
  return { nextToken: token ?? undefined, skip };
}

export function validPage(first: number, after: string | undefined): PageQuery {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw badInput('first', `first must be between 1 and ${MAX_PAGE_SIZE}.`);
  }
  return { first, position: after === undefined || after === null ? { skip: 0 } : decodeCursor(after) };
}
