import { GraphQLJSON } from 'graphql-scalars';
import { DateTime } from './date-time';
import { Directive, Field, ObjectType } from 'type-graphql';
import { Node } from './node';
import { connectionOf } from './connection';
import { ResolutionType } from './enums';
import { IdMappingJob, MatchingJob } from './job';
import { WorkflowPermissions } from './viewer';

@ObjectType({ description: 'A data source a workflow reads.', simpleResolvers: true })
export class InputSource {
  @Field({ description: 'The Glue table or ID namespace ARN.' })
  inputSourceArn!: string;

  @Field(() => String, { nullable: true })
  schemaName?: string;

  @Field(() => String, { nullable: true, description: 'ID mapping: SOURCE or TARGET.' })
  type?: string;

  @Field(() => Boolean, { nullable: true, description: 'Matching: whether the input is normalized.' })
  applyNormalization?: boolean;
}

@ObjectType({
  description: 'An Amazon Connect Customer Profiles domain and object type a matching workflow writes to.',
  simpleResolvers: true,
})
export class CustomerProfilesIntegration {
  @Field()
  domainArn!: string;

  @Field()
  objectTypeArn!: string;
}

@ObjectType({ description: 'A field a matching workflow writes to its output.', simpleResolvers: true })
export class OutputAttribute {
  @Field()
  name!: string;

  @Field(() => Boolean, { nullable: true })
  hashed?: boolean;
}

@ObjectType({ description: 'Where a workflow writes its output.', simpleResolvers: true })
export class WorkflowOutputSource {
  @Field(() => String, { nullable: true })
  outputS3Path?: string;

  @Field(() => String, { nullable: true })
  kmsArn?: string;

  @Field(() => Boolean, { nullable: true })
  applyNormalization?: boolean;

  @Field(() => [OutputAttribute], { nullable: true })
  output?: OutputAttribute[];

  @Field(() => CustomerProfilesIntegration, {
    nullable: true,
    description: 'Matching: the Amazon Connect Customer Profiles domain the output also goes to.',
  })
  customerProfilesIntegration?: CustomerProfilesIntegration;
}

@ObjectType({ description: 'A resource tag.', simpleResolvers: true })
export class Tag {
  @Field()
  key!: string;

  @Field()
  value!: string;
}

@ObjectType({ description: 'A matching rule: records match when all its keys do.', simpleResolvers: true })
export class MatchingRule {
  @Field()
  ruleName!: string;

  @Field(() => [String])
  matchingKeys!: string[];
}

@ObjectType({ description: 'A matching rule written as a condition.', simpleResolvers: true })
export class RuleCondition {
  @Field()
  ruleName!: string;

  @Field()
  condition!: string;
}

@ObjectType({ description: 'How a rule-based workflow matches, as the service names its settings.', simpleResolvers: true })
export class RuleBasedProperties {
  @Field(() => [MatchingRule], { nullable: true })
  rules?: MatchingRule[];

  @Field(() => String, { nullable: true, description: 'ONE_TO_ONE or MANY_TO_MANY.' })
  attributeMatchingModel?: string;

  @Field(() => String, { nullable: true, description: 'ID mapping: ONE_SOURCE_TO_ONE_TARGET or MANY_SOURCE_TO_ONE_TARGET.' })
  recordMatchingModel?: string;

  @Field(() => String, { nullable: true, description: 'ID mapping: SOURCE or TARGET.' })
  ruleDefinitionType?: string;

  @Field(() => String, { nullable: true, description: 'Matching: IDENTIFIER_GENERATION or INDEXING.' })
  matchPurpose?: string;
}

@ObjectType({ description: 'The provider service a provider workflow uses.', simpleResolvers: true })
export class ProviderProperties {
  @Field()
  providerServiceArn!: string;

  @Field(() => String, { nullable: true })
  intermediateS3Path?: string;

  @Field(() => GraphQLJSON, { nullable: true, description: "The provider's own configuration document." })
  providerConfiguration?: unknown;
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

  @Field(() => DateTime)
  createdAt!: Date;

  @Field(() => DateTime)
  updatedAt!: Date;

  @Field(() => String, { nullable: true, description: 'The IAM role the service assumes to run the workflow.' })
  roleArn?: string;

  @Field(() => [InputSource], { nullable: true })
  inputSourceConfig?: InputSource[];

  @Field(() => [WorkflowOutputSource], { nullable: true })
  outputSourceConfig?: WorkflowOutputSource[];

  @Field(() => RuleBasedProperties, { nullable: true })
  ruleBasedProperties?: RuleBasedProperties;

  @Field(() => ProviderProperties, { nullable: true })
  providerProperties?: ProviderProperties;

  @Field(() => [Tag], { nullable: true })
  tags?: Tag[];

  @Field(() => WorkflowPermissions, { description: 'What the viewer may do on this workflow (see `entityResolutionViewer`).' })
  permissions!: WorkflowPermissions;
}

@Directive('@key(fields: "workflowName")')
@ObjectType({ description: 'An ID-mapping workflow; its jobs are its runs.', implements: Node })
export class IdMappingWorkflow extends Workflow {
  @Field(() => String, { nullable: true, description: 'PROVIDER or RULE_BASED.' })
  idMappingType?: string;

  @Field(() => String, { nullable: true, description: 'Set when the workflow runs incrementally, e.g. ON_DEMAND.' })
  incrementalRunType?: string;
}

@Directive('@key(fields: "workflowName")')
@ObjectType({ description: 'A matching workflow; its jobs are its runs.', implements: Node })
export class MatchingWorkflow extends Workflow {
  @Field(() => ResolutionType, { nullable: true })
  resolutionType?: ResolutionType;

  @Field(() => [RuleCondition], { nullable: true, description: 'Rule-condition matching: each rule as a condition.' })
  ruleConditions?: RuleCondition[];

  @Field(() => String, { nullable: true, description: 'Set when the workflow runs incrementally, e.g. IMMEDIATE.' })
  incrementalRunType?: string;
}

export const IdMappingWorkflowConnection = connectionOf(IdMappingWorkflow, 'IdMappingWorkflow');
export const MatchingWorkflowConnection = connectionOf(MatchingWorkflow, 'MatchingWorkflow');
