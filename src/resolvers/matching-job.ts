import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Query, Resolver, Root } from 'type-graphql';
import { PageArgs } from '../schema/connection';
import { ErrorDetails, MatchingJob, MatchingJobMetrics, OutputSource } from '../schema/job';
import { MatchingJobConnection } from '../schema/workflow';
import type { JobSummaryRecord, MatchingJobRecord } from '../upstream/records';
import { hintJob, hintJobPage } from './cache-hints';
import type { GatewayContext } from './context';
import { validJobKey, validWorkflowName } from './inputs';
import { pageOf, readConnection } from './paging';

/** A job as a resolver holds it: in full from a Get, or a summary from a List. */
export type MatchingJobNode = MatchingJobRecord | JobSummaryRecord;

/** The job in full; a List summary costs one Get through the request's loader. */
function detail(job: MatchingJobNode, ctx: GatewayContext): Promise<MatchingJobRecord> {
  return job.detailed ? Promise.resolve(job) : ctx.loaders.matchingJob.load(job);
}

@Resolver(() => MatchingJob)
export class MatchingJobResolver {
  @Query(() => MatchingJob, { nullable: true, description: 'One matching job; null with NOT_FOUND when it does not exist.' })
  async matchingJob(
    @Arg('workflowName') workflowName: string,
    @Arg('jobId', () => ID) jobId: string,
    @Ctx() ctx: GatewayContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<MatchingJobNode> {
    const job = await ctx.loaders.matchingJob.load(validJobKey(workflowName, jobId, 'matchingworkflow', ctx.home));
    hintJob(info, job, ctx);
    return job;
  }

  @Query(() => MatchingJobConnection, { nullable: true, description: "A workflow's matching jobs, newest first." })
  async matchingJobs(
    @Arg('workflowName') workflowName: string,
    @Args() { first, after }: PageArgs,
    @Ctx() ctx: GatewayContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const name = validWorkflowName(workflowName, 'matchingworkflow', ctx.home);
    return hintJobPage(info, await readConnection(pageOf(ctx, { kind: 'matching', workflowName: name }, first, after), (page) => ctx.loaders.listMatchingJobs(name, page)), ctx);
  }

  @FieldResolver(() => MatchingJobMetrics, { nullable: true })
  async metrics(@Root() job: MatchingJobNode, @Ctx() ctx: GatewayContext, @Info() info: GraphQLResolveInfo) {
    const full = await detail(job, ctx);
    hintJob(info, full, ctx);
    return full.metrics;
  }

  @FieldResolver(() => ErrorDetails, { nullable: true })
  async errorDetails(@Root() job: MatchingJobNode, @Ctx() ctx: GatewayContext, @Info() info: GraphQLResolveInfo) {
    const full = await detail(job, ctx);
    hintJob(info, full, ctx);
    return full.errorDetails;
  }

  @FieldResolver(() => [OutputSource], { nullable: true })
  async outputSourceConfig(@Root() job: MatchingJobNode, @Ctx() ctx: GatewayContext, @Info() info: GraphQLResolveInfo) {
    const full = await detail(job, ctx);
    hintJob(info, full, ctx);
    return full.outputSourceConfig;
  }
}
