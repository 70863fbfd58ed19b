import { maybeCacheControlFromInfo } from '@apollo/cache-control-types';
import type { GraphQLResolveInfo } from 'graphql';
import type { Connection } from '../schema/connection';
import { isFinal, type JobStatus } from '../upstream/records';
import type { GatewayContext } from './context';

/**
 * Tells HTTP clients, CDNs and the response cache how long an answer about a
 * job may be reused: a finished job never changes, so for long; a running one
 * not at all. Set on every object-typed field of a job (scalar fields inherit
 * it). Over websockets there is no cache to tell.
 */
export function hintJob(info: GraphQLResolveInfo, job: { status: JobStatus }, ctx: GatewayContext): void {
  maybeCacheControlFromInfo(info)?.setCacheHint({ maxAge: isFinal(job.status) ? ctx.finalMaxAgeSeconds : 0, scope: ctx.cacheScope });
}

/**
 * A page of jobs may be reused for the freshness window (`listMaxAgeSeconds`)
 * when every job on it has finished, as new jobs join the list; a page with a
 * running job is not reused at all, so its status is never older than the
 * service's answer to this request. The page's edges and jobs inherit this.
 */
export function hintJobPage<T extends { status: JobStatus }>(
  info: GraphQLResolveInfo,
  page: Connection<T>,
  ctx: GatewayContext,
): Connection<T> {
  const maxAge = page.nodes.every((job) => isFinal(job.status)) ? ctx.listMaxAgeSeconds : 0;
  maybeCacheControlFromInfo(info)?.setCacheHint({ maxAge, scope: ctx.cacheScope });
  return page;
}
