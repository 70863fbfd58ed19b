import { Arg, Ctx, FieldResolver, Mutation, Resolver, Root } from 'type-graphql';
import { IdMappingJob, MatchingJob } from '../schema/job';
import { StartIdMappingJobInput, StartIdMappingJobPayload, StartMatchingJobInput, StartMatchingJobPayload } from '../schema/start';
import type { JobKey, StartedIdMappingJobRecord } from '../upstream/records';
import type { GatewayContext } from './context';
import { validIdempotencyKey, validOutputSources, validWorkflowName } from './inputs';

@Resolver(() => StartIdMappingJobPayload)
export class StartIdMappingJobResolver {
  @Mutation(() => StartIdMappingJobPayload, { description: 'Starts a job of an ID-mapping workflow; the service runs one at a time.' })
  startIdMappingJob(@Arg('input') input: StartIdMappingJobInput, @Ctx() ctx: GatewayContext): Promise<StartedIdMappingJobRecord> {
    const workflowName = validWorkflowName(input.workflowName, 'idmappingworkflow');
    const outputSourceConfig = validOutputSources(input.outputSourceConfig);
    const idempotencyKey = validIdempotencyKey(input.idempotencyKey);
    return ctx.starter.startIdMappingJob(workflowName, { outputSourceConfig, jobType: input.jobType ?? undefined }, idempotencyKey);
  }

  @FieldResolver(() => IdMappingJob)
  job(@Root() started: StartedIdMappingJobRecord, @Ctx() ctx: GatewayContext) {
    return ctx.loaders.idMappingJob.load(started);
  }
}

@Resolver(() => StartMatchingJobPayload)
export class StartMatchingJobResolver {
  @Mutation(() => StartMatchingJobPayload, { description: 'Starts a job of a matching workflow; the service runs one at a time.' })
  startMatchingJob(@Arg('input') input: StartMatchingJobInput, @Ctx() ctx: GatewayContext): Promise<JobKey> {
    const workflowName = validWorkflowName(input.workflowName, 'matchingworkflow');
    return ctx.starter.startMatchingJob(workflowName, validIdempotencyKey(input.idempotencyKey));
  }

  @FieldResolver(() => MatchingJob)
  job(@Root() started: JobKey, @Ctx() ctx: GatewayContext) {
    return ctx.loaders.matchingJob.load(started);
  }
}
