import { MAX_PAGE_SIZE, type Connection, type Edge } from '../schema/connection';
import { badInput } from '../upstream/errors';
import type { JobKind } from '../upstream/kinds';
import type { Page, PageRequest } from '../upstream/records';
import type { GatewayContext } from './context';
import type { ListCursors, ListPosition } from './cursors';

/** The service pages lists at most this many items at a time: a cursor skips at most a page. */
export const UPSTREAM_PAGE_SIZE = 25;

/** A page as a list field asks for it: how many, from where, sealed how. */
export interface PageQuery {
  first: number;
  position: ListPosition;
  /** This list's cursors for this caller: each edge's cursor is sealed with it. */
  cursors: ListCursors;
}

/** A page of `first` items after `after`, a cursor `cursors` opens (BAD_USER_INPUT otherwise). */
export function validPage(first: number, after: string | undefined | null, cursors: ListCursors): PageQuery {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw badInput('first', `first must be between 1 and ${MAX_PAGE_SIZE}.`);
  }
  return { first, position: after === undefined || after === null ? { skip: 0 } : cursors.open(after), cursors };
}

/** Which list a cursor belongs to: a kind's workflows, or one workflow's jobs. */
export interface ListIdentity {
  kind: JobKind;
  /** The workflow whose jobs are listed; unset for the list of workflows. */
  workflowName?: string;
}

/** The page a list field asks for, its cursor opened with the caller's cursors of `list` (BAD_USER_INPUT for any other). */
export function pageOf(ctx: GatewayContext, list: ListIdentity, first: number, after: string | undefined | null): PageQuery {
  const id = list.workflowName === undefined ? `${list.kind}:workflows` : `${list.kind}:jobs:${list.workflowName}`;
  return validPage(first, after, ctx.cursors.of(ctx.access.principal.id, id));
}

/**
 * The most upstream pages one connection reads: a guard against a service
 * that keeps answering empty pages with a token, and the bound on a workflow
 * list the policy filters (the upstream-cost estimate counts it).
 */
export const MAX_UPSTREAM_PAGES = 8;

/**
 * A connection of `query.first` items starting at `query.position`, read from
 * as many upstream pages as it takes. Each upstream request asks for no more
 * than the connection still needs, so the page ends on the last item wanted
 * and the end cursor holds the service's own next token: the next page costs
 * no item read twice. Cursors are sealed by `query.cursors` (see Cursors):
 * opaque to the client, and good only for this list and caller.
 */
export async function readConnection<T>(query: PageQuery, fetch: (request: PageRequest) => Promise<Page<T>>): Promise<Connection<T>> {
  const edges: Edge<T>[] = [];
  let { nextToken, skip } = query.position;
  let hasNextPage = true;
  for (let pages = 0; edges.length < query.first && pages < MAX_UPSTREAM_PAGES; pages++) {
    const maxResults = Math.min(UPSTREAM_PAGE_SIZE, skip + query.first - edges.length);
    const page = await fetch({ maxResults, nextToken });
    // A cursor counts places in the service's page, including those of items left out.
    const items = page.items.map((node, i) => ({ node, at: page.at?.[i] ?? i })).filter((item) => item.at >= skip);
    items.forEach(({ node, at }, i) => {
      const last = i === items.length - 1 && page.nextToken !== undefined;
      edges.push({ node, cursor: query.cursors.seal(last ? { nextToken: page.nextToken, skip: 0 } : { nextToken, skip: at + 1 }) });
    });
    if (page.nextToken === undefined) {
      hasNextPage = false;
      break;
    }
    nextToken = page.nextToken;
    skip = 0;
  }
  return { edges, nodes: edges.map((edge) => edge.node), pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor } };
}
