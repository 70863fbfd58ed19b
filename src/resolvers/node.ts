import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, ID, Info, Query, Resolver, Root } from 'type-graphql';
import { Node, type NodeType } from '../schema/node';
import type { GatewayContext } from './context';
import { globalId, parseGlobalId, type NodeKey } from './global-id';
import { validJobKey, validWorkflowName } from './inputs';

/** A node as resolved: the record, and the type the Node interface resolves it to. */
type Resolved = { __typename: NodeType } & object;

/** Reads what `key` names through the request's loaders, as the type's own query does (the policy's read check included). */
async function load(key: NodeKey, ctx: GatewayContext): Promise<Resolved> {
  const { type, workflowName, jobId } = key;
  switch (type) {
    case 'IdMappingJob':
      return { ...(await ctx.loaders.idMappingJob.load(validJobKey(workflowName, jobId!, 'idmappingworkflow', ctx.home))), __typename: type };
    case 'MatchingJob':
      return { ...(await ctx.loaders.matchingJob.load(validJobKey(workflowName, jobId!, 'matchingworkflow', ctx.home))), __typename: type };
    case 'IdMappingWorkflow':
      return { ...(await ctx.loaders.idMappingWorkflow.load(validWorkflowName(workflowName, 'idmappingworkflow', ctx.home))), __typename: type };
    case 'MatchingWorkflow':
      return { ...(await ctx.loaders.matchingWorkflow.load(validWorkflowName(workflowName, 'matchingworkflow', ctx.home))), __typename: type };
  }
}

/** Global ids: the `id` of every job and workflow, and `node`/`nodes` to read them back. */
@Resolver(() => Node)
export class NodeResolver {
  @FieldResolver(() => ID)
  id(@Root() root: { workflowName: string; jobId?: string }, @Info() info: GraphQLResolveInfo): string {
    const type = info.parentType.name as NodeType;
    return globalId({ type, workflowName: root.workflowName, jobId: type.endsWith('Job') ? root.jobId : undefined });
  }

  @Query(() => Node, { nullable: true, description: 'The job or workflow a global id names; null with NOT_FOUND when it does not exist, BAD_USER_INPUT when the id is not one of ours.' })
  node(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<Resolved> {
    return load(parseGlobalId(id), ctx);
  }

  @Query(() => [Node], {
    nullable: 'items',
    description: 'The jobs and workflows global ids name, in their order; an item that cannot be read is null with its own error. Each id costs at most one upstream Get, as `_entities` (ER_MAX_ENTITIES ids at most).',
  })
  nodes(@Arg('ids', () => [ID]) ids: string[], @Ctx() ctx: GatewayContext): Promise<(Resolved | Error)[]> {
    // A returned Error fails its own item only.
    return Promise.all(
      ids.map((id, i) =>
        Promise.resolve()
          .then(() => load(parseGlobalId(id, `ids[${i}]`), ctx))
          .catch((err: Error) => err),
      ),
    );
  }
}
