import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Query, Resolver, Root } from 'type-graphql';
import { PageArgs } from '../schema/connection';
import { IdMappingJobType } from '../schema/enums';
import { ErrorDetails, IdMappingJob, IdMappingJobMetrics, OutputSource } from '../schema/job';
import { IdMappingJobConnection } from '../schema/workflow';
import type { IdMappingJobRecord, JobSummaryRecord } from '../upstream/records';
import { hintJob, hintJobPage } from './cache-hints';
import type { GatewayContext } from './context';
import { validJobKey, validWorkflowName } from './inputs';
import { pageOf, readConnection } from './paging';

/** A job as a resolver holds it: in full from a Get, or a summary from a List. */
export type IdMappingJobNode = IdMappingJobRecord | JobSummaryRecord;

/** The job in full; a List summary costs one Get through the request's loader. */
function detail(job: IdMappingJobNode, ctx: GatewayContext): Promise<IdMappingJobRecord> {
  return job.detailed ? Promise.resolve(job) : ctx.loaders.idMappingJob.load(job);
}

@Resolver(() => IdMappingJob)
export class IdMappingJobResolver {
  @Query(() => IdMappingJob, { nullable: true, description: 'One ID-mapping job; null with NOT_FOUND when it does not exist.' })
  async idMappingJob(
    @Arg('workflowName') workflowName: string,
    @Arg('jobId', () => ID) jobId: string,
    @Ctx() ctx: GatewayContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<IdMappingJobNode> {
    const job = await ctx.loaders.idMappingJob.load(validJobKey(workflowName, jobId, 'idmappingworkflow', ctx.home));
    hintJob(info, job, ctx);
    return job;
  }

  @Query(() => IdMappingJobConnection, { nullable: true, description: "A workflow's ID-mapping jobs, newest first." })
  async idMappingJobs(
    @Arg('workflowName') workflowName: string,
    @Args() { first, after }: PageArgs,
    @Ctx() ctx: GatewayContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    const name = validWorkflowName(workflowName, 'idmappingworkflow', ctx.home);
    return hintJobPage(info, await readConnection(pageOf(ctx, { kind: 'idMapping', workflowName: name }, first, after), (page) => ctx.loaders.listIdMappingJobs(name, page)), ctx);
  }

  @FieldResolver(() => IdMappingJobMetrics, { nullable: true })
  async metrics(@Root() job: IdMappingJobNode, @Ctx() ctx: GatewayContext, @Info() info: GraphQLResolveInfo) {
    const full = await detail(job, ctx);
    hintJob(info, full, ctx);
    return full.metrics;
  }

  @FieldResolver(() => ErrorDetails, { nullable: true })
  async errorDetails(@Root() job: IdMappingJobNode, @Ctx() ctx: GatewayContext, @Info() info: GraphQLResolveInfo) {
    const full = await detail(job, ctx);
    hintJob(info, full, ctx);
    return full.errorDetails;
  }

  @FieldResolver(() => [OutputSource], { nullable: true })
  async outputSourceConfig(@Root() job: IdMappingJobNode, @Ctx() ctx: GatewayContext, @Info() info: GraphQLResolveInfo) {
    const full = await detail(job, ctx);
    hintJob(info, full, ctx);
    return full.outputSourceConfig;
  }

  @FieldResolver(() => IdMappingJobType, { nullable: true })
  async jobType(@Root() job: IdMappingJobNode, @Ctx() ctx: GatewayContext) {
    return (await detail(job, ctx)).jobType;
  }
}
