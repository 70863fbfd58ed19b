import { GraphQLError } from 'graphql';
import { Arg, Ctx, ID, Int, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { createLoaders } from '../loaders';
import { KIND_TYPES } from '../schema/kinds';
import { badInput } from '../upstream/errors';
import { ACTIONS } from '../auth/policy';
import { capitalized, KINDS, type JobKind, type JobOfKind } from '../upstream/kinds';
import type { JobSummaryRecord } from '../upstream/records';
import type { GatewayContext } from './context';
import { validJobKey, validWorkflowName } from './inputs';
import { UPSTREAM_PAGE_SIZE } from './paging';

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
  if (!Number.isInteger(first) || first < 1 || first > UPSTREAM_PAGE_SIZE)
    throw badInput('first', `first must be between 1 and ${UPSTREAM_PAGE_SIZE}.`);
  return first;
}

/** An error item of the watcher's stream becomes this event's errors; the stream ends after it. */
function payloadOf<T>(event: T | GraphQLError): T {
  if (event instanceof GraphQLError) throw event;
  return event;
}

/**
 * What a shareable subscription's payload depends on of who asks, from its
 * context and its root field's arguments: subscribers with the same document,
 * variables and audience share one execution per event (server/shared-executions.ts).
 */
export type SharedAudience = (context: GatewayContext, args: Record<string, unknown>) => string | undefined;

/**
 * The job subscriptions, which may be shared: every field of a job is read
 * from the event itself (no loader, nothing about the viewer), so its payload
 * depends on who asks only through the policy's decisions on the job's
 * workflow, which the audience names for every action.
 */
export const SHARED_JOB_SUBSCRIPTIONS: ReadonlyMap<string, SharedAudience> = new Map(
  (Object.keys(KINDS) as JobKind[]).map((kind) => [
    KINDS[kind].names.jobSubscription,
    ({ access, home }: GatewayContext, args: Record<string, unknown>) => {
      let workflowName: string;
      try {
        // The workflow as the watcher's access check names it (an ARN stands for its name).
        workflowName = validWorkflowName(String(args.workflowName), kind, home);
      } catch {
        return undefined; // refused at subscribe: nothing to share
      }
      return ACTIONS.map((action) => (access.can(action, workflowName) ? action : '-')).join(' ');
    },
  ]),
);

/**
 * Live job progress of `kind`. The first event is the job's current state;
 * then one event per visible change; the subscription completes after
 * SUCCEEDED or FAILED. Events carry the job in full, so their fields need no
 * upstream call.
 */
export function jobUpdatesResolver<K extends JobKind>(kind: K) {
  const { names, label } = KINDS[kind];
  const types = KIND_TYPES[kind];

  @Resolver()
  class JobUpdatesResolver {
    @Subscription(() => types.job, {
      name: names.jobSubscription,
      description: `${capitalized(types.article)} ${label} job now and each time it changes, until it succeeds or fails.`,
      subscribe: ({ args, context }: SubscribeData) =>
        context.watcher.subscribe(kind, validJobKey(args.workflowName, args.jobId, kind, context.home), {
          access: context.access,
          client: context.client,
          trace: context.observed.traceContext,
          ...context.subscriber,
        }),
    })
    jobUpdated(
      @Root() event: JobOfKind[K] | GraphQLError,
      @Arg('workflowName') _workflowName: string,
      @Arg('jobId', () => ID) _jobId: string,
    ): JobOfKind[K] {
      return payloadOf(event);
    }
  }
  return JobUpdatesResolver;
}

/**
 * The live list of `kind`: a workflow's newest jobs, again whenever one
 * appears or changes status. Details asked of its jobs are read as of each
 * event, by loaders of the event's own.
 */
export function liveListResolver<K extends JobKind>(kind: K) {
  const { names } = KINDS[kind];
  const types = KIND_TYPES[kind];

  @Resolver()
  class LiveListResolver {
    @Subscription(() => [types.job], {
      name: names.liveList,
      description: types.liveListDescription,
      subscribe: ({ args, context }: ListSubscribeData) =>
        context.lists.subscribe(kind, validWorkflowName(args.workflowName, kind, context.home), validListSize(args.first), {
          access: context.access,
          client: context.client,
          ...context.subscriber,
        }),
    })
    jobsChanged(
      @Root() event: JobSummaryRecord[] | GraphQLError,
      @Arg('workflowName') _workflowName: string,
      @Arg('first', () => Int, { defaultValue: 10, description: 'How many of the newest jobs, 1 to 25.' }) _first: number,
      @Ctx() ctx: GatewayContext,
    ): JobSummaryRecord[] {
      // The subscription's context lives as long as it does: its first loaders would answer every later event from their cache.
      ctx.loaders = createLoaders(ctx.jobs);
      return payloadOf(event);
    }
  }
  return LiveListResolver;
}
