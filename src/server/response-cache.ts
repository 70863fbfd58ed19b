import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import responseCachePlugin from '@apollo/server-plugin-response-cache';
import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';

export interface ResponseCacheOptions {
  /** Memory for cached answers, least recently used out first. */
  megabytes: number;
  /** The clock of entries' maxAge, in ms. @default performance.now */
  now?: () => number;
}

/** Request headers that carry who is asking: an answer is only ever reused for the same credentials. */
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'cookie'];

/**
 * Whole answers to queries whose every field may be reused (the cache hints
 * say so: finished jobs, pages of finished jobs), served again for their
 * maxAge without executing anything. Answers with errors, mutations and
 * anything about a running job are never stored. The key holds the query,
 * its variables and the credentials the request carried, so no client is
 * ever answered with what was computed for other credentials.
 */
export function responseCache<C extends BaseContext>(options: ResponseCacheOptions): ApolloServerPlugin<C> {
  const cache = new InMemoryLRUCache<string>({
    maxSize: Math.max(1, Math.floor(options.megabytes * 2 ** 20)),
    ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
  });
  return responseCachePlugin<C>({
    cache,
    extraCacheKeyData: async ({ request }) => CREDENTIAL_HEADERS.map((name) => request.http?.headers.get(name) ?? null),
  });
}
