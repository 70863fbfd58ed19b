import { Ctx, Query, Resolver } from 'type-graphql';
import type { Access } from '../auth/access';
import { Viewer, ViewerKind, type WorkflowPermissions } from '../schema/viewer';
import type { GatewayContext } from './context';

const KIND: Record<Access['principal']['kind'], ViewerKind> = {
  anonymous: ViewerKind.ANONYMOUS,
  token: ViewerKind.TOKEN,
  apiKey: ViewerKind.API_KEY,
};

/** What `access` lets its principal do on `workflowName`: the decisions its refusals are made of, with no upstream call. */
export function permissionsOn(access: Access, workflowName: string): WorkflowPermissions {
  return {
    read: access.can('read', workflowName),
    start: access.can('start', workflowName),
    subscribe: access.can('subscribe', workflowName),
  };
}

@Resolver(() => Viewer)
export class ViewerResolver {
  @Query(() => Viewer, {
    description:
      "Who is asking (named for this subgraph, so that a supergraph's own `viewer` does not clash): the principal the gateway authenticated (with ER_AUTH=none, anonymous). Each workflow's `permissions` say what it may do there.",
  })
  entityResolutionViewer(@Ctx() ctx: GatewayContext): Viewer {
    const { id, kind, groups } = ctx.access.principal;
    return { id, kind: KIND[kind], groups: [...groups] };
  }
}
