import { Arg, Ctx, FieldResolver, Mutation, Resolver, Root } from 'type-graphql';
import { KIND_TYPES } from '../schema/kinds';
import type { OutputSourceInput } from '../schema/start';
import { KINDS, type JobKind, type JobOfKind, type StartedOfKind } from '../upstream/kinds';
import type { StartedJobRecord, StartJobRequest } from '../upstream/records';
import type { GatewayContext } from './context';
import { validIdempotencyKey, validOutputSources, validWorkflowName } from './inputs';

/** A start's input, of either kind: one kind's also names an output and a job type (see StartJobRequest). */
interface StartInput {
  workflowName: string;
  outputSourceConfig?: OutputSourceInput[] | null;
  jobType?: StartJobRequest['jobType'] | null;
  idempotencyKey?: string | null;
}

/**
 * The new job as the service reported it at the start, for when reading it
 * right after fails (a busy rate budget, a blip): the payload must still say
 * which job started, or a client without an idempotency key would start again.
 */
function justStarted(started: StartedJobRecord & StartJobRequest) {
  return {
    workflowName: started.workflowName,
    jobId: started.jobId,
    status: 'QUEUED' as const,
    startTime: started.acceptedAt,
    observedAt: started.acceptedAt,
    stale: false,
    detailed: true as const,
    jobType: started.jobType,
    outputSourceConfig: started.outputSourceConfig,
  };
}

/** The start mutation of `kind` and its payload's job. */
export function startResolver<K extends JobKind>(kind: K) {
  const { names, label } = KINDS[kind];
  const types = KIND_TYPES[kind];

  @Resolver(() => types.startPayload)
  class StartJobResolver {
    @Mutation(() => types.startPayload, {
      name: names.startMutation,
      description: `Starts a job of ${types.article} ${label} workflow; the service runs one at a time.`,
    })
    start(@Arg('input', () => types.startInput) input: StartInput, @Ctx() ctx: GatewayContext): Promise<StartedOfKind[K]> {
      return ctx.access.start(
        input.workflowName,
        () => ({
          workflowName: validWorkflowName(input.workflowName, kind, ctx.home),
          outputSourceConfig: validOutputSources(input.outputSourceConfig),
          idempotencyKey: validIdempotencyKey(input.idempotencyKey),
        }),
        ({ workflowName, outputSourceConfig, idempotencyKey }) =>
          ctx.starter.startJob(kind, workflowName, { outputSourceConfig, jobType: input.jobType ?? undefined }, idempotencyKey),
      );
    }

    @FieldResolver(() => types.job)
    async job(@Root() started: StartedOfKind[K], @Ctx() ctx: GatewayContext): Promise<JobOfKind[K]> {
      try {
        return await ctx.loaders.job(kind).load(started);
      } catch {
        return justStarted(started) as JobOfKind[K];
      }
    }
  }
  return StartJobResolver;
}
