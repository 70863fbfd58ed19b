import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { IdMappingJobType } from '../schema/enums';
import { IdMappingJob, MatchingJob } from '../schema/job';
import { IdMappingWorkflow, MatchingWorkflow, RuleCondition } from '../schema/workflow';
import { JOB_KINDS } from '../upstream/kinds';
import type { GatewayContext } from './context';
import { jobDetail, jobResolver, type JobNode } from './job';
import { jobUpdatesResolver, liveListResolver } from './job-updates';
import { startResolver } from './start-job';
import { workflowDetail, workflowResolver, type WorkflowNode } from './workflow';

/*
 * The resolvers of the two kinds, made from the kinds table. Only what truly
 * differs is written per kind: an ID-mapping job's jobType and its
 * workflow's idMappingType, a matching workflow's rule conditions.
 * Fields are declared in the order these classes are made, which is the
 * schema's: each kind's job and workflow queries, then the starts, then the
 * job subscriptions and the live lists.
 */

@Resolver(() => IdMappingJob)
class IdMappingJobResolver extends jobResolver('idMapping') {
  @FieldResolver(() => IdMappingJobType, { nullable: true })
  async jobType(@Root() job: JobNode<'idMapping'>, @Ctx() ctx: GatewayContext) {
    return (await jobDetail('idMapping', job, ctx)).jobType;
  }
}

@Resolver(() => IdMappingWorkflow)
class IdMappingWorkflowResolver extends workflowResolver('idMapping') {
  @FieldResolver(() => String, { nullable: true })
  async idMappingType(@Root() wf: WorkflowNode<'idMapping'>, @Ctx() ctx: GatewayContext) {
    return (await workflowDetail('idMapping', wf, ctx)).idMappingType;
  }
}

@Resolver(() => MatchingJob)
class MatchingJobResolver extends jobResolver('matching') {}

@Resolver(() => MatchingWorkflow)
class MatchingWorkflowResolver extends workflowResolver('matching') {
  @FieldResolver(() => [RuleCondition], { nullable: true })
  async ruleConditions(@Root() wf: WorkflowNode<'matching'>, @Ctx() ctx: GatewayContext) {
    return (await workflowDetail('matching', wf, ctx)).ruleConditions;
  }
}

/** Every resolver of the kinds, in the schema's order. */
export const KIND_RESOLVERS = [
  IdMappingJobResolver,
  IdMappingWorkflowResolver,
  MatchingJobResolver,
  MatchingWorkflowResolver,
  ...JOB_KINDS.map((kind) => startResolver(kind)),
  ...JOB_KINDS.map((kind) => jobUpdatesResolver(kind)),
  ...JOB_KINDS.map((kind) => liveListResolver(kind)),
] as const;
