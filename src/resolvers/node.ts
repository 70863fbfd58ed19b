import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, ID, Info, Query, Resolver, Root } from 'type-graphql';
import { Node } from '../schema/node';
import type { GatewayContext } from './context';
import { globalId, nodeTypeName, NODE_TYPES, parseGlobalId, type NodeKey } from './global-id';
import { validJobKey, validWorkflowName } from './inputs';

/** A node as resolved: the record, and the type the Node interface resolves it to. */
type Resolved = { __typename: string } & object;

/** Reads what `key` names through the request's loaders, as the type's own query does (the policy's read check included). */
async function load({ kind, entity, workflowName, jobId }: NodeKey, ctx: GatewayContext): Promise<Resolved> {
  const record =
    entity === 'job'
      ? await ctx.loaders.job(kind).load(validJobKey(workflowName, jobId!, kind, ctx.home))
      : await ctx.loaders.workflow(kind).load(validWorkflowName(workflowName, kind, ctx.home));
  return { ...record, __typename: nodeTypeName(kind, entity) };
}

/** Global ids: the `id` of every job and workflow, and `node`/`nodes` to read them back. */
@Resolver(() => Node)
export class NodeResolver {
  @FieldResolver(() => ID)
  id(@Root() root: { workflowName: string; jobId?: string }, @Info() info: GraphQLResolveInfo): string {
    const { kind, entity } = NODE_TYPES.get(info.parentType.name)!;
    return globalId({ kind, entity, workflowName: root.workflowName, jobId: entity === 'job' ? root.jobId : undefined });
  }

  @Query(() => Node, {
    nullable: true,
    description:
      'The job or workflow a global id names; null with NOT_FOUND when it does not exist, BAD_USER_INPUT when the id is not one of ours.',
  })
  node(@Arg('id', () => ID) id: string, @Ctx() ctx: GatewayContext): Promise<Resolved> {
    return load(parseGlobalId(id), ctx);
  }

  @Query(() => [Node], {
    nullable: 'items',
    description:
      'The jobs and workflows global ids name, in their order; an item that cannot be read is null with its own error. Each id costs at most one upstream Get, as `_entities` (ER_MAX_ENTITIES ids at most).',
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
