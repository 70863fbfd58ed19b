/**
 * The service's own patterns for names and ARNs (from its Smithy model), and
 * the stricter S3 path rule of this gateway. Client input is checked against
 * them before any upstream call; the policy file against them at start-up.
 */

export const JOB_ID = /^[a-f0-9]{32}$/;
/** EntityName: every workflow is created with one, so a name of other characters names none. */
export const WORKFLOW_NAME = /^[a-zA-Z_0-9-]{1,255}$/;
/** Groups: partition, region, account, kind, name. */
export const WORKFLOW_ARN =
  /^arn:(aws|aws-us-gov|aws-cn):entityresolution:([a-z]{2}-[a-z]{1,10}-[0-9]):([0-9]{12}):(idmappingworkflow|matchingworkflow)\/([a-zA-Z_0-9-]{1,255})$/;
/** RoleArn, 32–512 characters: the model takes roles of the aws partition only. */
export const ROLE_ARN = /^(?=.{32,512}$)arn:aws:iam::\d{12}:role\/?[a-zA-Z_0-9+=,.@\-_/]+$/;
/** Stricter than the model's KMSArn (^arn:aws:kms:.*:[0-9]+:.*$): a key or alias of a region and account. */
export const KMS_ARN = /^arn:aws:kms:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:(key|alias)\/[\w/+=,.@-]{1,256}$/;
const S3_PATH = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[^\s]*)?$/;
const MAX_S3_PATH_LENGTH = 1024;

/**
 * Whether `path` is an `s3://bucket/key/prefix` the service takes and that
 * means one thing only. Refused beyond the service's
 * pattern: `.` and `..` segments, empty segments, query strings, fragments,
 * backslashes and percent-escapes, each of which some reader of the path
 * (a console, a script, a proxy) would take to mean another place.
 */
export function isCanonicalS3Path(path: string): boolean {
  if (path.length > MAX_S3_PATH_LENGTH || !S3_PATH.test(path) || /[?#\\%]/.test(path)) return false;
  const segments = path.slice('s3://'.length).split('/').slice(1);
  // A trailing slash leaves one empty segment at the end, and only there.
  const inner = segments.at(-1) === '' ? segments.slice(0, -1) : segments;
  return !inner.some((segment) => segment === '' || segment === '.' || segment === '..');
}

/** True when `path` is `prefix` (a folder, ending in `/`) or lies under it. */
export function isUnderS3Prefix(path: string, prefix: string): boolean {
  return path.startsWith(prefix) || path === prefix.slice(0, -1);
}
