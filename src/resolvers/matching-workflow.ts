import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, Info, Query, Resolver, Root } from 'type-graphql';
import { PageArgs } from '../schema/connection';
import {
  InputSource,
  MatchingJobConnection,
  MatchingWorkflow,
  MatchingWorkflowConnection,
  ProviderProperties,
  RuleBasedProperties,
  RuleCondition,
  Tag,
  WorkflowOutputSource,
} from '../schema/workflow';
import type { MatchingWorkflowRecord, WorkflowSummaryRecord } from '../upstream/records';
import { hintJobPage } from './cache-hints';
import type { GatewayContext } from './context';
import { validWorkflowName } from './inputs';
import { pageOf, readConnection } from './paging';

/** A List summary already carries resolutionType; the other details need a Get. */
type MatchingWorkflowNode = MatchingWorkflowRecord | WorkflowSummaryRecord;

function detail(wf: MatchingWorkflowNode, ctx: GatewayContext): Promise<MatchingWorkflowRecord> {
  return wf.detailed ? Promise.resolve(wf) : ctx.loaders.matchingWorkflow.load(wf.workflowName);
}

@Resolver(() => MatchingWorkflow)
export class MatchingWorkflowResolver {
  @Query(() => MatchingWorkflow, { nullable: true, description: 'One matching workflow, by name or ARN.' })
  matchingWorkflow(@Arg('workflowName') workflowName: string, @Ctx() ctx: GatewayContext): Promise<MatchingWorkflowNode> {
    return ctx.loaders.matchingWorkflow.load(validWorkflowName(workflowName, 'matchingworkflow', ctx.home));
  }

  @Query(() => MatchingWorkflowConnection, { nullable: true, description: 'The matching workflows of the account and region.' })
  matchingWorkflows(@Args() { first, after }: PageArgs, @Ctx() ctx: GatewayContext) {
    return readConnection(pageOf(ctx, { kind: 'matching' }, first, after), (page) => ctx.loaders.listMatchingWorkflows(page));
  }

  @FieldResolver(() => MatchingJobConnection, { nullable: true, description: "The workflow's jobs, newest first." })
  async jobs(@Root() wf: MatchingWorkflowNode, @Args() { first, after }: PageArgs, @Ctx() ctx: GatewayContext, @Info() info: GraphQLResolveInfo) {
    return hintJobPage(info, await readConnection(pageOf(ctx, { kind: 'matching', workflowName: wf.workflowName }, first, after), (page) => ctx.loaders.listMatchingJobs(wf.workflowName, page)), ctx);
  }

  @FieldResolver(() => String, { nullable: true })
  async description(@Root() wf: MatchingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).description;
  }

  @FieldResolver(() => String, { nullable: true, description: 'The IAM role the service assumes to run the workflow.' })
  async roleArn(@Root() wf: MatchingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).roleArn;
  }

  @FieldResolver(() => [InputSource], { nullable: true })
  async inputSourceConfig(@Root() wf: MatchingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).inputSourceConfig;
  }

  @FieldResolver(() => String, { nullable: true })
  async incrementalRunType(@Root() wf: MatchingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).incrementalRunType;
  }

  @FieldResolver(() => [WorkflowOutputSource], { nullable: true })
  async outputSourceConfig(@Root() wf: MatchingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).outputSourceConfig;
  }

  @FieldResolver(() => RuleBasedProperties, { nullable: true })
  async ruleBasedProperties(@Root() wf: MatchingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).ruleBasedProperties;
  }

  @FieldResolver(() => ProviderProperties, { nullable: true })
  async providerProperties(@Root() wf: MatchingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).providerProperties;
  }

  @FieldResolver(() => [Tag], { nullable: true })
  async tags(@Root() wf: MatchingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).tags;
  }

  @FieldResolver(() => [RuleCondition], { nullable: true })
  async ruleConditions(@Root() wf: MatchingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).ruleConditions;
  }
}
