import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { IdMappingJobType } from './enums';
import { IdMappingJob, MatchingJob, OutputSource } from './job';

@InputType({ description: 'Where a started job writes its output.' })
export class OutputSourceInput {
  @Field({ description: 'An IAM role ARN the service assumes to write the output.' })
  roleArn!: string;

  @Field({ description: 'An s3://bucket/path URI.' })
  outputS3Path!: string;

  @Field(() => String, { nullable: true, description: "A KMS key ARN; unset, the service's own key." })
  kmsArn?: string;
}

@InputType()
export class StartIdMappingJobInput {
  @Field({ description: 'The ID-mapping workflow, by name or ARN.' })
  workflowName!: string;

  @Field(() => [OutputSourceInput], { nullable: true, description: "At most one; unset, the workflow's own output." })
  outputSourceConfig?: OutputSourceInput[];

  @Field(() => IdMappingJobType, {
    nullable: true,
    description: "Unset, the workflow's default: INCREMENTAL when it runs incrementally, else BATCH.",
  })
  jobType?: IdMappingJobType;

  @Field(() => String, {
    nullable: true,
    description:
      'Makes the start safe to retry: the same key with the same input within 24 hours returns the first result and starts nothing.',
  })
  idempotencyKey?: string;
}

@ObjectType()
export class StartIdMappingJobPayload {
  @Field(() => ID)
  jobId!: string;

  @Field(() => IdMappingJobType, { nullable: true })
  jobType?: IdMappingJobType;

  @Field(() => [OutputSource], { nullable: true })
  outputSourceConfig?: OutputSource[];

  @Field(() => IdMappingJob, { description: 'The started job as the service now reports it.' })
  job!: IdMappingJob;
}

@InputType()
export class StartMatchingJobInput {
  @Field({ description: 'The matching workflow, by name or ARN.' })
  workflowName!: string;

  @Field(() => String, {
    nullable: true,
    description:
      'Makes the start safe to retry: the same key with the same input within 24 hours returns the first result and starts nothing.',
  })
  idempotencyKey?: string;
}

@ObjectType()
export class StartMatchingJobPayload {
  @Field(() => ID)
  jobId!: string;

  @Field(() => MatchingJob, { description: 'The started job as the service now reports it.' })
  job!: MatchingJob;
}
