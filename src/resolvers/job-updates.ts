import { GraphQLError } from 'graphql';
import { Arg, Ctx, ID, Int, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { createLoaders } from '../loaders';
import { IdMappingJob, MatchingJob } from '../schema/job';
import { badInput } from '../upstream/errors';
import type { JobKind } from '../upstream/job-store';
import type { IdMappingJobRecord, JobSummaryRecord, MatchingJobRecord } from '../upstream/records';
import type { GatewayContext } from './context';
import { UPSTREAM_PAGE_SIZE, validJobKey, validWorkflowName } from './inputs';

interface JobArgs {
  workflowName: string;
  jobId: string;
}

interface ListArgs {
  workflowName: string;
  first: number;
}

type SubscribeData = SubscribeResolverData<unknown, JobArgs, GatewayContext>;
type ListSubscribeData = SubscribeResolverData<unknown, ListArgs, GatewayContext>;

/** A live list is one upstream page: 1 to 25 of a workflow's newest jobs. */
function validListSize(first: number): number {
  if (!Number.isInteger(first) || first < 1 || first > UPSTREAM_PAGE_SIZE) throw badInput('first', `first must be between 1 and ${UPSTREAM_PAGE_SIZE}.`);
  return first;
}

/** The subscribe function of a live list of `kind`: its inputs checked, then the list watcher's stream for this subscriber. */
function subscribeToList(kind: JobKind, arnKind: 'idmappingworkflow' | 'matchingworkflow') {
  return ({ args, context }: ListSubscribeData) =>
    context.lists.subscribe(kind, validWorkflowName(args.workflowName, arnKind, context.home), validListSize(args.first), {
      access: context.access,
      client: context.client,
      ...context.subscriber,
    });
}

/** A live list's event: the jobs now; details asked of them are read as of this event, by loaders of its own. */
function listEvent(event: JobSummaryRecord[] | GraphQLError, ctx: GatewayContext): JobSummaryRecord[] {
  // The subscription's context lives as long as it does: its first loaders would answer every later event from their cache.
  ctx.loaders = createLoaders(ctx.jobs);
  return payloadOf(event);
}

/** An error item of the watcher's stream becomes this event's errors; the stream ends after it. */
function payloadOf<T>(event: T | GraphQLError): T {
  if (event instanceof GraphQLError) throw event;
  return event;
}

/**
 * Live job progress. The first event is the job's current state; then one
 * event per visible change; the subscription completes after SUCCEEDED or
 * FAILED. Events carry the job in full, so their fields need no upstream call.
 */
@Resolver()
export class JobUpdatesResolver {
  @Subscription(() => IdMappingJob, {
    description: 'An ID-mapping job now and each time it changes, until it succeeds or fails.',
    subscribe: ({ args, context }: SubscribeData) => context.watcher.subscribe('idMapping', validJobKey(args.workflowName, args.jobId, 'idmappingworkflow', context.home), { access: context.access, client: context.client, ...context.subscriber }),
  })
  idMappingJobUpdated(
    @Root() event: IdMappingJobRecord | GraphQLError,
    @Arg('workflowName') _workflowName: string,
    @Arg('jobId', () => ID) _jobId: string,
  ): IdMappingJobRecord {
    return payloadOf(event);
  }

  @Subscription(() => MatchingJob, {
    description: 'A matching job now and each time it changes, until it succeeds or fails.',
    subscribe: ({ args, context }: SubscribeData) => context.watcher.subscribe('matching', validJobKey(args.workflowName, args.jobId, 'matchingworkflow', context.home), { access: context.access, client: context.client, ...context.subscriber }),
  })
  matchingJobUpdated(
    @Root() event: MatchingJobRecord | GraphQLError,
    @Arg('workflowName') _workflowName: string,
    @Arg('jobId', () => ID) _jobId: string,
  ): MatchingJobRecord {
    return payloadOf(event);
  }

  @Subscription(() => [IdMappingJob], {
    description:
      "A workflow's newest ID-mapping jobs now, then again whenever a job appears or changes status: a dashboard sees jobs started elsewhere. One List poll per workflow per interval, however many subscribe.",
    subscribe: subscribeToList('idMapping', 'idmappingworkflow'),
  })
  idMappingJobsChanged(
    @Root() event: JobSummaryRecord[] | GraphQLError,
    @Arg('workflowName') _workflowName: string,
    @Arg('first', () => Int, { defaultValue: 10, description: 'How many of the newest jobs, 1 to 25.' }) _first: number,
    @Ctx() ctx: GatewayContext,
  ): JobSummaryRecord[] {
    return listEvent(event, ctx);
  }

  @Subscription(() => [MatchingJob], {
    description: "A workflow's newest matching jobs now, then again whenever a job appears or changes status.",
    subscribe: subscribeToList('matching', 'matchingworkflow'),
  })
  matchingJobsChanged(
    @Root() event: JobSummaryRecord[] | GraphQLError,
    @Arg('workflowName') _workflowName: string,
    @Arg('first', () => Int, { defaultValue: 10, description: 'How many of the newest jobs, 1 to 25.' }) _first: number,
    @Ctx() ctx: GatewayContext,
  ): JobSummaryRecord[] {
    return listEvent(event, ctx);
  }
}
