import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, Info, Query, Resolver, Root } from 'type-graphql';
import { PageArgs } from '../schema/connection';
import { KIND_TYPES } from '../schema/kinds';
import { WorkflowPermissions } from '../schema/viewer';
import { InputSource, ProviderProperties, RuleBasedProperties, Tag, WorkflowOutputSource } from '../schema/workflow';
import { KINDS, type JobKind, type WorkflowOfKind } from '../upstream/kinds';
import type { WorkflowSummaryRecord } from '../upstream/records';
import { hintJobPage } from './cache-hints';
import type { GatewayContext } from './context';
import { validWorkflowName } from './inputs';
import { pageOf, readConnection } from './paging';
import { permissionsOn } from './viewer';

/** A workflow as a resolver holds it: in full from a Get, or a summary from a List (a matching one already carries resolutionType). */
export type WorkflowNode<K extends JobKind> = WorkflowOfKind[K] | WorkflowSummaryRecord;

/** The workflow in full; a List summary costs one Get through the request's loader. */
export function workflowDetail<K extends JobKind>(kind: K, wf: WorkflowNode<K>, ctx: GatewayContext): Promise<WorkflowOfKind[K]> {
  return wf.detailed ? Promise.resolve(wf) : ctx.loaders.workflow(kind).load(wf.workflowName);
}

/**
 * The resolver of `kind`'s workflows: its workflow and workflows queries, a
 * workflow's jobs, and the details a listed workflow reads with a Get. A
 * kind's own fields go in its subclass.
 */
export function workflowResolver<K extends JobKind>(kind: K) {
  const { names, label } = KINDS[kind];
  const types = KIND_TYPES[kind];

  @Resolver(() => types.workflow)
  abstract class WorkflowResolver {
    @Query(() => types.workflow, { name: names.workflowQuery, nullable: true, description: `One ${label} workflow, by name or ARN.` })
    workflow(@Arg('workflowName') workflowName: string, @Ctx() ctx: GatewayContext): Promise<WorkflowNode<K>> {
      return ctx.loaders.workflow(kind).load(validWorkflowName(workflowName, kind, ctx.home));
    }

    @Query(() => types.workflowConnection, {
      name: names.workflowsQuery,
      nullable: true,
      description: `The ${label} workflows of the account and region.`,
    })
    workflows(@Args() { first, after }: PageArgs, @Ctx() ctx: GatewayContext) {
      return readConnection(pageOf(ctx, { kind }, first, after), (page) => ctx.loaders.listWorkflows(kind, page));
    }

    @FieldResolver(() => types.jobConnection, { nullable: true, description: "The workflow's jobs, newest first." })
    async jobs(
      @Root() wf: WorkflowNode<K>,
      @Args() { first, after }: PageArgs,
      @Ctx() ctx: GatewayContext,
      @Info() info: GraphQLResolveInfo,
    ) {
      const list = readConnection(pageOf(ctx, { kind, workflowName: wf.workflowName }, first, after), (page) =>
        ctx.loaders.listJobs(kind, wf.workflowName, page),
      );
      return hintJobPage(info, await list, ctx);
    }

    @FieldResolver(() => String, { nullable: true })
    async description(@Root() wf: WorkflowNode<K>, @Ctx() ctx: GatewayContext) {
      return (await workflowDetail(kind, wf, ctx)).description;
    }

    @FieldResolver(() => String, { nullable: true, description: 'The IAM role the service assumes to run the workflow.' })
    async roleArn(@Root() wf: WorkflowNode<K>, @Ctx() ctx: GatewayContext) {
      return (await workflowDetail(kind, wf, ctx)).roleArn;
    }

    @FieldResolver(() => [InputSource], { nullable: true })
    async inputSourceConfig(@Root() wf: WorkflowNode<K>, @Ctx() ctx: GatewayContext) {
      return (await workflowDetail(kind, wf, ctx)).inputSourceConfig;
    }

    @FieldResolver(() => String, { nullable: true })
    async incrementalRunType(@Root() wf: WorkflowNode<K>, @Ctx() ctx: GatewayContext) {
      return (await workflowDetail(kind, wf, ctx)).incrementalRunType;
    }

    @FieldResolver(() => [WorkflowOutputSource], { nullable: true })
    async outputSourceConfig(@Root() wf: WorkflowNode<K>, @Ctx() ctx: GatewayContext) {
      return (await workflowDetail(kind, wf, ctx)).outputSourceConfig;
    }

    @FieldResolver(() => RuleBasedProperties, { nullable: true })
    async ruleBasedProperties(@Root() wf: WorkflowNode<K>, @Ctx() ctx: GatewayContext) {
      return (await workflowDetail(kind, wf, ctx)).ruleBasedProperties;
    }

    @FieldResolver(() => ProviderProperties, { nullable: true })
    async providerProperties(@Root() wf: WorkflowNode<K>, @Ctx() ctx: GatewayContext) {
      return (await workflowDetail(kind, wf, ctx)).providerProperties;
    }

    @FieldResolver(() => [Tag], { nullable: true })
    async tags(@Root() wf: WorkflowNode<K>, @Ctx() ctx: GatewayContext) {
      return (await workflowDetail(kind, wf, ctx)).tags;
    }

    @FieldResolver(() => WorkflowPermissions, { description: 'What the viewer may do on this workflow (see `entityResolutionViewer`).' })
    permissions(@Root() wf: WorkflowNode<K>, @Ctx() ctx: GatewayContext): WorkflowPermissions {
      return permissionsOn(ctx.access, wf.workflowName);
    }
  }
  return WorkflowResolver;
}
