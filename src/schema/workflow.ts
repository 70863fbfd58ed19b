import { GraphQLDateTime } from 'graphql-scalars';
import { Directive, Field, ObjectType } from 'type-graphql';
import { connectionOf } from './connection';
import { ResolutionType } from './enums';
import { IdMappingJob, MatchingJob } from './job';

@ObjectType({ description: 'A data source a workflow reads.', simpleResolvers: true })
export class InputSource {
  @Field({ description: 'The Glue table or ID namespace ARN.' })
  inputSourceArn!: string;

  @Field(() => String, { nullable: true })
  schemaName?: string;
}

export const IdMappingJobConnection = connectionOf(IdMappingJob, 'IdMappingJob');
export const MatchingJobConnection = connectionOf(MatchingJob, 'MatchingJob');

/** What every workflow has, whatever its kind. */
@ObjectType()
abstract class Workflow {
  @Field()
  workflowName!: string;

  @Field()
  workflowArn!: string;

  @Field(() => String, { nullable: true })
  description?: string;

  @Field(() => GraphQLDateTime)
  createdAt!: Date;

  @Field(() => GraphQLDateTime)
  updatedAt!: Date;

  @Field(() => String, { nullable: true, description: 'The IAM role the service assumes to run the workflow.' })
  roleArn?: string;

  @Field(() => [InputSource], { nullable: true })
  inputSourceConfig?: InputSource[];
}

@Directive('@key(fields: "workflowName")')
@ObjectType({ description: 'An ID-mapping workflow; its jobs are its runs.' })
export class IdMappingWorkflow extends Workflow {
  @Field(() => String, { nullable: true, description: 'PROVIDER or RULE_BASED.' })
  idMappingType?: string;

  @Field(() => String, { nullable: true, description: 'Set when the workflow runs incrementally, e.g. ON_DEMAND.' })
  incrementalRunType?: string;
}

@Directive('@key(fields: "workflowName")')
@ObjectType({ description: 'A matching workflow; its jobs are its runs.' })
export class MatchingWorkflow extends Workflow {
  @Field(() => ResolutionType, { nullable: true })
  resolutionType?: ResolutionType;

  @Field(() => String, { nullable: true, description: 'Set when the workflow runs incrementally, e.g. IMMEDIATE.' })
  incrementalRunType?: string;
}

export const IdMappingWorkflowConnection = connectionOf(IdMappingWorkflow, 'IdMappingWorkflow');
export const MatchingWorkflowConnection = connectionOf(MatchingWorkflow, 'MatchingWorkflow');
