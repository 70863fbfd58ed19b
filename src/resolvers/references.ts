import type { GatewayContext } from './context';
import { validJobKey, validWorkflowName } from './inputs';

/**
 * How a router fetches our entities by key (`_entities`): through the same
 * per-request loaders as queries, so a batch of representations costs at most
 * one Get per distinct job, and a bad or missing key fails only its own item.
 * Each is async on purpose: a synchronous throw would escape the subgraph's
 * per-item handling and fail the whole batch.
 */
export const referenceResolvers = {
  IdMappingJob: {
    __resolveReference: async (ref: { workflowName: string; jobId: string }, ctx: GatewayContext) =>
      ctx.loaders.idMappingJob.load(validJobKey(ref.workflowName, ref.jobId, 'idmappingworkflow', ctx.home)),
  },
  MatchingJob: {
    __resolveReference: async (ref: { workflowName: string; jobId: string }, ctx: GatewayContext) =>
      ctx.loaders.matchingJob.load(validJobKey(ref.workflowName, ref.jobId, 'matchingworkflow', ctx.home)),
  },
  IdMappingWorkflow: {
    __resolveReference: async (ref: { workflowName: string }, ctx: GatewayContext) =>
      ctx.loaders.idMappingWorkflow.load(validWorkflowName(ref.workflowName, 'idmappingworkflow', ctx.home)),
  },
  MatchingWorkflow: {
    __resolveReference: async (ref: { workflowName: string }, ctx: GatewayContext) =>
      ctx.loaders.matchingWorkflow.load(validWorkflowName(ref.workflowName, 'matchingworkflow', ctx.home)),
  },
};
