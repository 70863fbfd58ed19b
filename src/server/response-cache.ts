import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { Counter } from 'prom-client';
import { KnownOperation } from '../observe/tracing';

export interface ResponseCacheOptions {
  /** Memory for cached answers (bodies, keys, operation texts), least recently used out first. */
  megabytes: number;
  /** The clock of entries' maxAge and `Age`, in ms. @default performance.now */
  now?: () => number;
  /** Whether answers depend on who asks (auth on): then every key holds the principal's cache scope, and PRIVATE answers are stored. */
  scoped: boolean;
  /** Lookups by result: `hit` (answered by the HTTP layer), `miss` (counted as Apollo takes the request). */
  lookups?: Counter<'result'>;
}

/** One stored answer: the bytes and headers Apollo sent for it, and what a hit tells the metrics and the trace. */
export interface CachedAnswer {
  body: string;
  /** Apollo's headers of the miss (content type, Cache-Control), replayed as they were. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** The operation, as a hit's metrics and span tell it. */
  operation: KnownOperation;
  storedAt: number;
  expiresAt: number;
  size: number;
}

/** What a request sends, as the HTTP layer has it: a GET's query string or a POST's JSON body, and its headers. */
export interface CacheableRequest {
  method: string;
  params: unknown;
  headers: Record<string, string | string[] | undefined>;
}

/** Apollo's verdict on an answer it computed: storable for `maxAge` seconds, with the operation's name and text. */
interface Verdict {
  maxAge: number;
  operationName: string | undefined;
  source: string;
}

/** Apollo's CSRF prevention lets a GET with no content type through only with one of these. */
const PREFLIGHT_HEADERS = ['x-apollo-operation-name', 'apollo-require-preflight'];

/**
 * Whole answers to queries whose every field may be reused (the cache hints
 * say so: finished jobs, pages of finished jobs), answered by the HTTP layer
 * before Apollo runs, for their maxAge. The key is read from the request
 * without parsing GraphQL: the operation's text (or persisted hash), its
 * name, its variables in canonical JSON (keys sorted), the Accept header
 * (Apollo's content type follows it) and, once auth is on, the principal's
 * grants (`grantsKey`): no one is answered with what was computed for
 * someone the policy treats differently.
 *
 * Contract: an entry is stored only from an answer Apollo computed for the
 * same key (a miss), and only when Apollo says it may be reused: a query
 * (never a mutation), no errors, status 200, a complete body, every field
 * cacheable by its hints (maxAge > 0: never a running job, never a page with
 * one), PUBLIC unless keyed by principal. A hit sends the stored bytes and
 * Apollo's headers of the miss unchanged, with `Age`: the same bytes by
 * construction. Everything a miss checks before Apollo (Host and Origin,
 * authentication, trusted documents, the body limit) runs before the
 * lookup; what Apollo checks (validation, depth, aliases, cost, variables'
 * size) depends only on the key's parts, so a key that was answered once
 * passes them again.
 */
export class ResponseCache {
  private readonly entries = new Map<string, CachedAnswer>();
  private readonly maxBytes: number;
  private bytes = 0;
  private readonly now: () => number;
  /** The lookups counter's series, bound once: prom-client hashes a label set on every increment otherwise. */
  private readonly hits?: Counter.Internal;
  private readonly misses?: Counter.Internal;
  /** HTTP requests on their way through Apollo: the key to fill, and (once Apollo has answered) its verdict. */
  private readonly pending = new WeakMap<object, { key: string; verdict?: Verdict }>();

  constructor(private readonly options: ResponseCacheOptions) {
    this.maxBytes = Math.max(1, Math.floor(options.megabytes * 2 ** 20));
    this.now = options.now ?? (() => performance.now());
    this.hits = options.lookups?.labels({ result: 'hit' });
    this.misses = options.lookups?.labels({ result: 'miss' });
  }

  /** The key of `request` under `scope` (the principal's grants, `grantsKey`, which holds no line break; ignored unless `scoped`), or undefined when it may be neither answered nor stored here. */
  keyOf(request: CacheableRequest, scope: string): string | undefined {
    const { headers } = request;
    // A router asking for ftv1 gets a trace of this execution: never a stored one.
    if (headers['apollo-federation-include-trace'] !== undefined) return undefined;
    const params = request.params as Record<string, unknown> | undefined;
    if (!params || typeof params !== 'object' || Array.isArray(params)) return undefined;
    let variables = params.variables;
    let extensions = params.extensions;
    if (request.method === 'GET') {
      if (!getAccepted(headers)) return undefined;
      try {
        if (typeof variables === 'string') variables = JSON.parse(variables);
        if (typeof extensions === 'string') extensions = JSON.parse(extensions);
      } catch {
        return undefined;
      }
    } else if (request.method !== 'POST') return undefined;
    const document = documentOf(params.query, params.documentId, extensions);
    if (document === undefined) return undefined;
    const { operationName } = params;
    if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
    if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) return undefined;
    const key = JSON.stringify([headers.accept ?? '', document, operationName ?? null, canonical(variables ?? null)]);
    // The scope before the first line break (JSON has none), not inside the JSON: there its quotes would be escaped on every request.
    return this.options.scoped ? `${scope}\n${key}` : key;
  }

  /** The stored answer under `key`, fresh at this moment, counted as a hit; undefined when there is none (the miss is counted by Apollo's side). */
  lookup(key: string): CachedAnswer | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.remove(key, entry);
      return undefined;
    }
    // Most recently used last: eviction takes from the front.
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.hits?.inc(1);
    return entry;
  }

  /** Seconds since `entry` was stored, for `Age`. */
  ageOf(entry: CachedAnswer): number {
    return Math.max(0, Math.floor((this.now() - entry.storedAt) / 1000));
  }

  /**
   * `request` (the HTTP request handed to Apollo, which Apollo keeps as `request.http`; its context it clones)
   * is under `key`: what Apollo answers may fill it.
   */
  expect(request: object, key: string): void {
    this.pending.set(request, { key });
  }

  /** Stores what Apollo answered for `request`, if Apollo's verdict allowed it. */
  fill(request: object, status: number | undefined, headers: Iterable<[string, string]>, body: string): void {
    const waiting = this.pending.get(request);
    if (!waiting?.verdict) return;
    this.store(waiting.key, waiting.verdict, status, headers, body);
  }

  /**
   * A query answered without Apollo's pipeline (see PreparedQueries), under `key`: counted as a miss, and stored as
   * Apollo's verdict would have allowed (no errors, cacheable by its hints, PUBLIC unless keyed by principal).
   */
  answered(
    key: string,
    answer: { status: number; headers: Iterable<[string, string]>; body: string; policy?: { maxAge: number; scope: 'PUBLIC' | 'PRIVATE' } },
    operationName: string | undefined,
    source: string,
  ): void {
    this.misses?.inc(1);
    const { policy } = answer;
    if (!policy || (policy.scope === 'PRIVATE' && !this.options.scoped)) return;
    this.store(key, { maxAge: policy.maxAge, operationName, source }, answer.status, answer.headers, answer.body);
  }

  private store(key: string, verdict: Verdict, status: number | undefined, headers: Iterable<[string, string]>, body: string): void {
    if (status !== undefined && status !== 200) return;
    const kept = [...headers].filter(([name]) => name !== 'content-length');
    const size = 2 * (key.length + body.length + verdict.source.length) + 256;
    if (size > this.maxBytes) return;
    const now = this.now();
    const existing = this.entries.get(key);
    if (existing) this.remove(key, existing);
    this.entries.set(key, {
      body,
      headers: kept,
      operation: new KnownOperation('query', verdict.operationName, verdict.source),
      storedAt: now,
      expiresAt: now + verdict.maxAge * 1000,
      size,
    });
    this.bytes += size;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(oldest, entry);
    }
  }

  /** Apollo's side: counts a miss as Apollo takes an expected request, and gives its verdict once the answer is known. */
  plugin<C extends BaseContext>(): ApolloServerPlugin<C> {
    const { pending, options, misses } = this;
    return {
      async requestDidStart({ request }) {
        const waiting = request.http && pending.get(request.http);
        if (!waiting) return;
        misses?.inc(1);
        return {
          async willSendResponse(requestContext) {
            const { operation, response, overallCachePolicy } = requestContext;
            if (operation?.operation !== 'query' || requestContext.errors?.length) return;
            if (response.body.kind !== 'single' || response.body.singleResult.errors) return;
            const policy = overallCachePolicy.policyIfCacheable();
            if (!policy || (policy.scope === 'PRIVATE' && !options.scoped)) return;
            waiting.verdict = { maxAge: policy.maxAge, operationName: operation.name?.value, source: requestContext.source ?? '' };
          },
        };
      },
    };
  }

  private remove(key: string, entry: CachedAnswer): void {
    this.entries.delete(key);
    this.bytes -= entry.size;
  }
}

/**
 * Whether Apollo would take this GET: a content type, if any, of JSON (else 415), and past its CSRF prevention
 * (a content type a browser would preflight, or one of Apollo's headers).
 */
function getAccepted(headers: CacheableRequest['headers']): boolean {
  const type = headers['content-type'];
  if (type !== undefined) return typeof type === 'string' && type.split(';', 1)[0].trim().toLowerCase() === 'application/json';
  return PREFLIGHT_HEADERS.some((name) => typeof headers[name] === 'string' && headers[name] !== '');
}

/** The operation a request names: its text, or its persisted hash (prefixed, so a text never meets a hash). */
function documentOf(query: unknown, documentId: unknown, extensions: unknown): string | undefined {
  if (extensions !== undefined && extensions !== null) {
    if (typeof extensions !== 'object' || Array.isArray(extensions)) return undefined;
    // Other extensions may mean something to Apollo or a plugin: such requests always run.
    if (Object.keys(extensions).some((name) => name !== 'persistedQuery')) return undefined;
  }
  if (typeof query === 'string' && query !== '') return `text:${query}`;
  if (typeof documentId === 'string') return `id:${documentId.replace(/^sha256:/, '')}`;
  const hash = (extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined)?.persistedQuery?.sha256Hash;
  return typeof hash === 'string' ? `id:${hash}` : undefined;
}

/** JSON with every object's keys sorted: two requests that differ only in key order share a key. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_name, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v as object)
            .sort()
            .map((k) => [k, (v as Record<string, unknown>)[k]]),
        )
      : v,
  );
}
