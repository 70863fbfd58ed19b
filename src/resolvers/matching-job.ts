import { Arg, Args, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import { PageArgs } from '../schema/connection';
import { ErrorDetails, MatchingJob, MatchingJobMetrics, OutputSource } from '../schema/job';
import { MatchingJobConnection } from '../schema/workflow';
import type { JobSummaryRecord, MatchingJobRecord } from '../upstream/records';
import type { GatewayContext } from './context';
import { validJobKey, validPage, validWorkflowName } from './inputs';
import { readConnection } from './paging';

/** A job as a resolver holds it: in full from a Get, or a summary from a List. */
export type MatchingJobNode = MatchingJobRecord | JobSummaryRecord;

/** The job in full; a List summary costs one Get through the request's loader. */
function detail(job: MatchingJobNode, ctx: GatewayContext): Promise<MatchingJobRecord> {
  return job.detailed ? Promise.resolve(job) : ctx.loaders.matchingJob.load(job);
}

@Resolver(() => MatchingJob)
export class MatchingJobResolver {
  @Query(() => MatchingJob, { nullable: true, description: 'One matching job; null with NOT_FOUND when it does not exist.' })
  matchingJob(
    @Arg('workflowName') workflowName: string,
    @Arg('jobId', () => ID) jobId: string,
    @Ctx() ctx: GatewayContext,
  ): Promise<MatchingJobNode> {
    return ctx.loaders.matchingJob.load(validJobKey(workflowName, jobId));
  }

  @Query(() => MatchingJobConnection, { nullable: true, description: "A workflow's matching jobs, newest first." })
  matchingJobs(@Arg('workflowName') workflowName: string, @Args() { first, after }: PageArgs, @Ctx() ctx: GatewayContext) {
    const name = validWorkflowName(workflowName);
    return readConnection(validPage(first, after), (page) => ctx.jobs.listMatchingJobs(name, page));
  }

  @FieldResolver(() => MatchingJobMetrics, { nullable: true })
  async metrics(@Root() job: MatchingJobNode, @Ctx() ctx: GatewayContext) {
    return (await detail(job, ctx)).metrics;
  }

  @FieldResolver(() => ErrorDetails, { nullable: true })
  async errorDetails(@Root() job: MatchingJobNode, @Ctx() ctx: GatewayContext) {
    return (await detail(job, ctx)).errorDetails;
  }

  @FieldResolver(() => [OutputSource], { nullable: true })
  async outputSourceConfig(@Root() job: MatchingJobNode, @Ctx() ctx: GatewayContext) {
    return (await detail(job, ctx)).outputSourceConfig;
  }
}
