import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, Info, Query, Resolver, Root } from 'type-graphql';
import { PageArgs } from '../schema/connection';
import {
  IdMappingJobConnection,
  IdMappingWorkflow,
  IdMappingWorkflowConnection,
  InputSource,
  ProviderProperties,
  RuleBasedProperties,
  Tag,
  WorkflowOutputSource,
} from '../schema/workflow';
import type { IdMappingWorkflowRecord, WorkflowSummaryRecord } from '../upstream/records';
import { hintJobPage } from './cache-hints';
import type { GatewayContext } from './context';
import { validWorkflowName } from './inputs';
import { pageOf, readConnection } from './paging';

type IdMappingWorkflowNode = IdMappingWorkflowRecord | WorkflowSummaryRecord;

/** The workflow in full; a List summary costs one Get through the request's loader. */
function detail(wf: IdMappingWorkflowNode, ctx: GatewayContext): Promise<IdMappingWorkflowRecord> {
  return wf.detailed ? Promise.resolve(wf) : ctx.loaders.idMappingWorkflow.load(wf.workflowName);
}

@Resolver(() => IdMappingWorkflow)
export class IdMappingWorkflowResolver {
  @Query(() => IdMappingWorkflow, { nullable: true, description: 'One ID-mapping workflow, by name or ARN.' })
  idMappingWorkflow(@Arg('workflowName') workflowName: string, @Ctx() ctx: GatewayContext): Promise<IdMappingWorkflowNode> {
    return ctx.loaders.idMappingWorkflow.load(validWorkflowName(workflowName, 'idmappingworkflow', ctx.home));
  }

  @Query(() => IdMappingWorkflowConnection, { nullable: true, description: 'The ID-mapping workflows of the account and region.' })
  idMappingWorkflows(@Args() { first, after }: PageArgs, @Ctx() ctx: GatewayContext) {
    return readConnection(pageOf(ctx, { kind: 'idMapping' }, first, after), (page) => ctx.loaders.listIdMappingWorkflows(page));
  }

  @FieldResolver(() => IdMappingJobConnection, { nullable: true, description: "The workflow's jobs, newest first." })
  async jobs(@Root() wf: IdMappingWorkflowNode, @Args() { first, after }: PageArgs, @Ctx() ctx: GatewayContext, @Info() info: GraphQLResolveInfo) {
    return hintJobPage(info, await readConnection(pageOf(ctx, { kind: 'idMapping', workflowName: wf.workflowName }, first, after), (page) => ctx.loaders.listIdMappingJobs(wf.workflowName, page)), ctx);
  }

  @FieldResolver(() => String, { nullable: true })
  async description(@Root() wf: IdMappingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).description;
  }

  @FieldResolver(() => String, { nullable: true, description: 'The IAM role the service assumes to run the workflow.' })
  async roleArn(@Root() wf: IdMappingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).roleArn;
  }

  @FieldResolver(() => [InputSource], { nullable: true })
  async inputSourceConfig(@Root() wf: IdMappingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).inputSourceConfig;
  }

  @FieldResolver(() => String, { nullable: true })
  async idMappingType(@Root() wf: IdMappingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).idMappingType;
  }

  @FieldResolver(() => String, { nullable: true })
  async incrementalRunType(@Root() wf: IdMappingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).incrementalRunType;
  }

  @FieldResolver(() => [WorkflowOutputSource], { nullable: true })
  async outputSourceConfig(@Root() wf: IdMappingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).outputSourceConfig;
  }

  @FieldResolver(() => RuleBasedProperties, { nullable: true })
  async ruleBasedProperties(@Root() wf: IdMappingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).ruleBasedProperties;
  }

  @FieldResolver(() => ProviderProperties, { nullable: true })
  async providerProperties(@Root() wf: IdMappingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).providerProperties;
  }

  @FieldResolver(() => [Tag], { nullable: true })
  async tags(@Root() wf: IdMappingWorkflowNode, @Ctx() ctx: GatewayContext) {
    return (await detail(wf, ctx)).tags;
  }
}
