import { GraphQLSafeInt } from 'graphql-scalars';
import { DateTime } from './date-time';
import { Directive, Field, ID, ObjectType } from 'type-graphql';
import { Node } from './node';
import { IdMappingJobType, JobStatus } from './enums';
import { INHERIT_MAX_AGE } from './cache-control';

@ObjectType({ description: 'Where a job writes its output.', simpleResolvers: true })
export class OutputSource {
  @Field({ description: 'The IAM role the service assumes to write the output.' })
  roleArn!: string;

  @Field({ description: 'The S3 path the output table is written to.' })
  outputS3Path!: string;

  @Field(() => String, { nullable: true, description: "The KMS key encrypting the output; unset, the service's own key." })
  kmsArn?: string;
}

@ObjectType({ description: 'Why a job failed.', simpleResolvers: true })
export class ErrorDetails {
  @Field(() => String, { nullable: true })
  errorMessage?: string;
}

/** The counts both kinds of job report. */
@ObjectType({ simpleResolvers: true })
abstract class JobMetrics {
  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Records input for processing.' })
  inputRecords?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Records processed.' })
  totalRecordsProcessed?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Records not processed.' })
  recordsNotProcessed?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Records processed that were marked for deletion.' })
  deleteRecordsProcessed?: number;
}

@ObjectType({ description: 'Record counts of an ID-mapping job; each may pass 2^31.', simpleResolvers: true })
export class IdMappingJobMetrics extends JobMetrics {
  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Records mapped.' })
  totalMappedRecords?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Source records mapped.' })
  totalMappedSourceRecords?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Distinct target records mapped.' })
  totalMappedTargetRecords?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'De-duplicated records processed across all runs.' })
  uniqueRecordsLoaded?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'New records mapped in this run.' })
  newMappedRecords?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'New source records mapped in this run.' })
  newMappedSourceRecords?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'New target records mapped in this run.' })
  newMappedTargetRecords?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'New unique records processed in this run.' })
  newUniqueRecordsLoaded?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Mapped records removed.' })
  mappedRecordsRemoved?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Source records removed.' })
  mappedSourceRecordsRemoved?: number;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Mapped target records removed.' })
  mappedTargetRecordsRemoved?: number;
}

@ObjectType({ description: 'Record counts of a matching job; each may pass 2^31.', simpleResolvers: true })
export class MatchingJobMetrics extends JobMetrics {
  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Match IDs generated.' })
  matchIDs?: number;
}

/**
 * What every job has, whatever its workflow's kind. Its fields are read as
 * graphql-js reads a property (`simpleResolvers`): no resolver of
 * type-graphql's around each, on the path of every job of every answer.
 */
@ObjectType({ simpleResolvers: true })
abstract class Job {
  @Field()
  workflowName!: string;

  @Field(() => ID)
  jobId!: string;

  @Field(() => JobStatus)
  status!: JobStatus;

  @Field(() => DateTime)
  startTime!: Date;

  @Field(() => DateTime, { nullable: true })
  endTime?: Date;

  @Field(() => ErrorDetails, { nullable: true })
  errorDetails?: ErrorDetails;

  @Field(() => [OutputSource], { nullable: true })
  outputSourceConfig?: OutputSource[];

  @Field(() => DateTime, {
    description: 'When the gateway last heard from the service about this job: a client can show "as of 36 s ago".',
  })
  observedAt!: Date;

  @Field({
    description:
      'True when the gateway cannot reach the service about this job and this is the last state it knows (as of observedAt). Subscriptions send such an event after two failed polls, and a fresh one with stale false once the service answers again. Queries fail rather than answer stale.',
  })
  stale!: boolean;
}

@Directive('@key(fields: "workflowName jobId")')
@Directive(INHERIT_MAX_AGE)
@ObjectType({ description: 'A run of an ID-mapping workflow.', implements: Node, simpleResolvers: true })
export class IdMappingJob extends Job {
  @Field(() => IdMappingJobType, { nullable: true })
  jobType?: IdMappingJobType;

  @Field(() => IdMappingJobMetrics, { nullable: true })
  metrics?: IdMappingJobMetrics;
}

@Directive('@key(fields: "workflowName jobId")')
@Directive(INHERIT_MAX_AGE)
@ObjectType({ description: 'A run of a matching workflow.', implements: Node, simpleResolvers: true })
export class MatchingJob extends Job {
  @Field(() => MatchingJobMetrics, { nullable: true })
  metrics?: MatchingJobMetrics;
}
