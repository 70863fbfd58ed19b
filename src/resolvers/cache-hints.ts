import { maybeCacheControlFromInfo } from '@apollo/cache-control-types';
import type { GraphQLResolveInfo } from 'graphql';
import { isFinal, type JobStatus } from '../upstream/records';
import type { GatewayContext } from './context';

/**
 * Tells HTTP clients and CDNs how long an answer about a job may be reused: a
 * finished job never changes, so for long; a running one not at all. Set on
 * every object-typed field of a job (scalar fields inherit it); lists carry
 * none, as new jobs join them. Over websockets there is no cache to tell.
 */
export function hintJob(info: GraphQLResolveInfo, job: { status: JobStatus }, ctx: GatewayContext): void {
  maybeCacheControlFromInfo(info)?.setCacheHint({ maxAge: isFinal(job.status) ? ctx.finalMaxAgeSeconds : 0, scope: 'PUBLIC' });
}
