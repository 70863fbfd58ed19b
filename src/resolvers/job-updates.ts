import { GraphQLError } from 'graphql';
import { Arg, ID, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import { IdMappingJob, MatchingJob } from '../schema/job';
import type { IdMappingJobRecord, MatchingJobRecord } from '../upstream/records';
import type { GatewayContext } from './context';
import { validJobKey } from './inputs';

interface JobArgs {
  workflowName: string;
  jobId: string;
}

type SubscribeData = SubscribeResolverData<unknown, JobArgs, GatewayContext>;

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
}
