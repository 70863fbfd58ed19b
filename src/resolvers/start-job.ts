import { Arg, Ctx, FieldResolver, Mutation, Resolver, Root } from 'type-graphql';
import { IdMappingJob, MatchingJob } from '../schema/job';
import { StartIdMappingJobInput, StartIdMappingJobPayload, StartMatchingJobInput, StartMatchingJobPayload } from '../schema/start';
import type { IdMappingJobRecord, MatchingJobRecord, StartedIdMappingJobRecord, StartedJobRecord } from '../upstream/records';
import type { GatewayContext } from './context';
import { validIdempotencyKey, validOutputSources, validWorkflowName } from './inputs';

/**
 * The new job as the service reported it at the start, for when reading it
 * right after fails (a busy rate budget, a blip): the payload must still say
 * which job started, or a client without an idempotency key would start again.
 */
function justStarted(started: StartedJobRecord) {
  return { workflowName: started.workflowName, jobId: started.jobId, status: 'QUEUED' as const, startTime: started.acceptedAt, observedAt: started.acceptedAt, stale: false, detailed: true as const };
}

@Resolver(() => StartIdMappingJobPayload)
export class StartIdMappingJobResolver {
  @Mutation(() => StartIdMappingJobPayload, { description: 'Starts a job of an ID-mapping workflow; the service runs one at a time.' })
  startIdMappingJob(@Arg('input') input: StartIdMappingJobInput, @Ctx() ctx: GatewayContext): Promise<StartedIdMappingJobRecord> {
    return ctx.access.start(
      input.workflowName,
      () => ({
        workflowName: validWorkflowName(input.workflowName, 'idmappingworkflow', ctx.home),
        outputSourceConfig: validOutputSources(input.outputSourceConfig),
        idempotencyKey: validIdempotencyKey(input.idempotencyKey),
      }),
      ({ workflowName, outputSourceConfig, idempotencyKey }) => ctx.starter.startIdMappingJob(workflowName, { outputSourceConfig, jobType: input.jobType ?? undefined }, idempotencyKey),
    );
  }

  @FieldResolver(() => IdMappingJob)
  async job(@Root() started: StartedIdMappingJobRecord, @Ctx() ctx: GatewayContext): Promise<IdMappingJobRecord> {
    try {
      return await ctx.loaders.idMappingJob.load(started);
    } catch {
      return { ...justStarted(started), jobType: started.jobType, outputSourceConfig: started.outputSourceConfig };
    }
  }
}

@Resolver(() => StartMatchingJobPayload)
export class StartMatchingJobResolver {
  @Mutation(() => StartMatchingJobPayload, { description: 'Starts a job of a matching workflow; the service runs one at a time.' })
  startMatchingJob(@Arg('input') input: StartMatchingJobInput, @Ctx() ctx: GatewayContext): Promise<StartedJobRecord> {
    return ctx.access.start(
      input.workflowName,
      () => ({ workflowName: validWorkflowName(input.workflowName, 'matchingworkflow', ctx.home), idempotencyKey: validIdempotencyKey(input.idempotencyKey) }),
      ({ workflowName, idempotencyKey }) => ctx.starter.startMatchingJob(workflowName, idempotencyKey),
    );
  }

  @FieldResolver(() => MatchingJob)
  async job(@Root() started: StartedJobRecord, @Ctx() ctx: GatewayContext): Promise<MatchingJobRecord> {
    try {
      return await ctx.loaders.matchingJob.load(started);
    } catch {
      return justStarted(started);
    }
  }
}
