import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Query, Resolver, Root } from 'type-graphql';
import { PageArgs } from '../schema/connection';
import { ErrorDetails, OutputSource } from '../schema/job';
import { KIND_TYPES } from '../schema/kinds';
import { KINDS, type JobKind, type JobOfKind } from '../upstream/kinds';
import type { JobSummaryRecord } from '../upstream/records';
import { hintJob, hintJobPage } from './cache-hints';
import type { GatewayContext } from './context';
import { validJobKey, validWorkflowName } from './inputs';
import { pageOf, readConnection } from './paging';

/** A job as a resolver holds it: in full from a Get, or a summary from a List. */
export type JobNode<K extends JobKind> = JobOfKind[K] | JobSummaryRecord;

/** The job in full; a List summary costs one Get through the request's loader. */
export function jobDetail<K extends JobKind>(kind: K, job: JobNode<K>, ctx: GatewayContext): Promise<JobOfKind[K]> {
  return job.detailed ? Promise.resolve(job) : ctx.loaders.job(kind).load(job);
}

/**
 * The resolver of `kind`'s jobs: its job and jobs queries, and the details a
 * listed job reads with a Get. A kind's own fields go in its subclass.
 */
export function jobResolver<K extends JobKind>(kind: K) {
  const { names, label } = KINDS[kind];
  const types = KIND_TYPES[kind];

  @Resolver(() => types.job)
  abstract class JobResolver {
    @Query(() => types.job, {
      name: names.jobQuery,
      nullable: true,
      description: `One ${label} job; null with NOT_FOUND when it does not exist.`,
    })
    async job(
      @Arg('workflowName') workflowName: string,
      @Arg('jobId', () => ID) jobId: string,
      @Ctx() ctx: GatewayContext,
      @Info() info: GraphQLResolveInfo,
    ): Promise<JobNode<K>> {
      const job = await ctx.loaders.job(kind).load(validJobKey(workflowName, jobId, kind, ctx.home));
      hintJob(info, job, ctx);
      return job;
    }

    @Query(() => types.jobConnection, { name: names.jobsQuery, nullable: true, description: `A workflow's ${label} jobs, newest first.` })
    async jobs(
      @Arg('workflowName') workflowName: string,
      @Args() { first, after }: PageArgs,
      @Ctx() ctx: GatewayContext,
      @Info() info: GraphQLResolveInfo,
    ) {
      const name = validWorkflowName(workflowName, kind, ctx.home);
      return hintJobPage(
        info,
        await readConnection(pageOf(ctx, { kind, workflowName: name }, first, after), (page) => ctx.loaders.listJobs(kind, name, page)),
        ctx,
      );
    }

    @FieldResolver(() => types.jobMetrics, { nullable: true })
    async metrics(@Root() job: JobNode<K>, @Ctx() ctx: GatewayContext, @Info() info: GraphQLResolveInfo) {
      const full = await jobDetail(kind, job, ctx);
      hintJob(info, full, ctx);
      return full.metrics;
    }

    @FieldResolver(() => ErrorDetails, { nullable: true })
    async errorDetails(@Root() job: JobNode<K>, @Ctx() ctx: GatewayContext, @Info() info: GraphQLResolveInfo) {
      const full = await jobDetail(kind, job, ctx);
      hintJob(info, full, ctx);
      return full.errorDetails;
    }

    @FieldResolver(() => [OutputSource], { nullable: true })
    async outputSourceConfig(@Root() job: JobNode<K>, @Ctx() ctx: GatewayContext, @Info() info: GraphQLResolveInfo) {
      const full = await jobDetail(kind, job, ctx);
      hintJob(info, full, ctx);
      return full.outputSourceConfig;
    }
  }
  return JobResolver;
}
