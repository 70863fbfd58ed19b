import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import responseCachePlugin from '@apollo/server-plugin-response-cache';
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';

export interface ResponseCacheOptions<C extends BaseContext> {
  /** Memory for cached answers, least recently used out first. */
  megabytes: number;
  /** The clock of entries' maxAge, in ms. @default performance.now */
  now?: () => number;
  /**
   * Whose answers a request may reuse, once answers depend on who asks (they
   * are then PRIVATE): a key of everything the policy decides on. Unset,
   * only PUBLIC answers are stored.
   */
  sessionId?: (context: C) => string;
}

/**
 * Whole answers to queries whose every field may be reused (the cache hints
 * say so: finished jobs, pages of finished jobs), served again for their
 * maxAge without executing anything. Answers with errors, mutations and
 * anything about a running job are never stored. The key holds the query
 * and its variables and, once auth is on, the principal's grants (answers
 * are then PRIVATE): no one is ever answered with what was computed for
 * someone the policy treats differently. Authentication runs before any
 * lookup, so an expired token never reaches a cached answer.
 */
export function responseCache<C extends BaseContext>(options: ResponseCacheOptions<C>): ApolloServerPlugin<C> {
  const cache = new InMemoryLRUCache<string>({
    maxSize: Math.max(1, Math.floor(options.megabytes * 2 ** 20)),
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
  });
  const sessionId = options.sessionId;
  return responseCachePlugin<C>({
    cache,
    ...(sessionId ? { sessionId: async ({ contextValue }) => sessionId(contextValue) } : {}),
  });
}
