import { NODE_TYPES, type NodeType } from '../schema/node';
import { badInput } from '../upstream/errors';

/** What a global id names: a type and its key (a job's workflow and id; a workflow's name). */
export interface NodeKey {
  type: NodeType;
  workflowName: string;
  jobId?: string;
}

const JOB_TYPES = new Set<NodeType>(['IdMappingJob', 'MatchingJob']);

/** The global id of `key`: base64url of `type:workflowName[:jobId]`, opaque to clients and the same every time. */
export function globalId(key: NodeKey): string {
  return Buffer.from([key.type, key.workflowName, ...(key.jobId === undefined ? [] : [key.jobId])].join(':')).toString('base64url');
}

/** The type and key a global id names; BAD_USER_INPUT when it is not one of ours. The key's own checks come after. */
export function parseGlobalId(id: string, field = 'id'): NodeKey {
  const parts = id.length <= 512 && /^[A-Za-z0-9_-]+$/.test(id) ? Buffer.from(id, 'base64url').toString('utf8').split(':') : [];
  const type = parts[0] as NodeType;
  if (!NODE_TYPES.includes(type) || parts.length !== (JOB_TYPES.has(type) ? 3 : 2)) {
    throw badInput(field, 'This is not an id the gateway gave out: use the id field of a job or workflow.');
  }
  return { type, workflowName: parts[1], jobId: parts[2] };
}
