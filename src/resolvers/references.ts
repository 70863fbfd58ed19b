import { JOB_KINDS, KINDS } from '../upstream/kinds';
import type { GatewayContext } from './context';
import { validJobKey, validWorkflowName } from './inputs';

/** A representation a router sends: a job's key, or a workflow's. */
interface Reference {
  workflowName: string;
  jobId?: string;
}

type ReferenceResolver = { __resolveReference(ref: Reference, ctx: GatewayContext): Promise<unknown> };

/**
 * How a router fetches our entities by key (`_entities`): through the same
 * per-request loaders as queries, so a batch of representations costs at most
 * one Get per distinct job, and a bad or missing key fails only its own item.
 * Each is async on purpose: a synchronous throw would escape the subgraph's
 * per-item handling and fail the whole batch. One job and one workflow type
 * per kind.
 */
export const referenceResolvers: Record<string, ReferenceResolver> = Object.fromEntries(
  JOB_KINDS.flatMap((kind): [string, ReferenceResolver][] => [
    [
      KINDS[kind].names.jobType,
      {
        __resolveReference: async (ref, ctx) =>
          ctx.loaders.job(kind).load(validJobKey(ref.workflowName, ref.jobId as string, kind, ctx.home)),
      },
    ],
    [
      KINDS[kind].names.workflowType,
      { __resolveReference: async (ref, ctx) => ctx.loaders.workflow(kind).load(validWorkflowName(ref.workflowName, kind, ctx.home)) },
    ],
  ]),
);
