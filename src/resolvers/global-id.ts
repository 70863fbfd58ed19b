import { badInput } from '../upstream/errors';
import { JOB_KINDS, KINDS, type JobKind } from '../upstream/kinds';

/** What a global id names: a job of a kind (by workflow and id) or a workflow of a kind (by name). */
export interface NodeKey {
  kind: JobKind;
  entity: 'job' | 'workflow';
  workflowName: string;
  jobId?: string;
}

/** The type name a global id carries for `entity` of `kind`: the GraphQL type's. */
export function nodeTypeName(kind: JobKind, entity: NodeKey['entity']): string {
  return entity === 'job' ? KINDS[kind].names.jobType : KINDS[kind].names.workflowType;
}

/** The kind and entity of each type a global id can name, by type name. */
export const NODE_TYPES = new Map(
  JOB_KINDS.flatMap((kind) => (['job', 'workflow'] as const).map((entity) => [nodeTypeName(kind, entity), { kind, entity }] as const)),
);

/** The global id of `key`: base64url of `type:workflowName[:jobId]`, opaque to clients and the same every time. */
export function globalId(key: NodeKey): string {
  const type = nodeTypeName(key.kind, key.entity);
  return Buffer.from([type, key.workflowName, ...(key.jobId === undefined ? [] : [key.jobId])].join(':')).toString('base64url');
}

/** The kind and key a global id names; BAD_USER_INPUT when it is not one of ours. The key's own checks come after. */
export function parseGlobalId(id: string, field = 'id'): NodeKey {
  const parts = id.length <= 512 && /^[A-Za-z0-9_-]+$/.test(id) ? Buffer.from(id, 'base64url').toString('utf8').split(':') : [];
  const node = NODE_TYPES.get(parts[0]);
  if (!node || parts.length !== (node.entity === 'job' ? 3 : 2)) {
    throw badInput(field, 'This is not an id the gateway gave out: use the id field of a job or workflow.');
  }
  return { ...node, workflowName: parts[1], jobId: parts[2] };
}
