import proxyAddr from '@fastify/proxy-addr';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { AuthMode } from '../auth/authenticator';
import type { AuthSettings } from '../auth/setup';
import { parseRedisUrl, RedisUrlError } from '../cluster/redis-url';
import { embeddedEmulatorSettings } from '../emulator/settings';
// For the `.meta` fields (group, defaultText, typeText) the configuration reference reads.
import '../settings/meta';
import { CallbackUrls } from './callback-urls';
import { OriginGuard } from './origins';

/**
 * The gateway's settings, read and checked once at start-up (nothing else reads process.env): what
 * `loadConfig` returns. Each field is its setting's value in the words of the code; what a setting means,
 * its type, range and default are said once, in `settingsSchema` (and the page generated from it,
 * docs/operators/configuration.md).
 */
export type Config = ReturnType<typeof loadConfig>;

/** A setting that stops start-up; its message names the variable. */
export class ConfigError extends Error {}

/** A comma-separated list, items trimmed, empty ones dropped. */
const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
);

/**
 * The gateway's settings: every variable it reads, its bounds, its default and
 * what it means (`.meta`), in the order the configuration reference lists them.
 * docs/operators/configuration.md is generated from this (npm run config-reference).
 */
export const settingsSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'])
    .default('development')
    .meta({ group: 'service', description: '`production` requires `ER_BACKEND` to be set' }),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000).meta({ group: 'service', description: 'HTTP port (`0` picks a free one)' }),
  HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .meta({ group: 'service', description: 'address to listen on; `0.0.0.0` to serve other hosts' }),
  ER_BACKEND: z.enum(['emulator', 'aws']).optional().meta({
    group: 'backend',
    defaultText: '`emulator` (required when `NODE_ENV=production`)',
    description: '`emulator`: start the emulator in-process on a free loopback port and point the SDK at it; `aws`: the real service',
  }),
  ER_ENDPOINT: z
    .url({ protocol: /^https?$/ })
    .optional()
    .meta({
      group: 'backend',
      typeText: 'http(s) URL',
      description:
        'with `ER_BACKEND=aws`, an endpoint override (a VPC endpoint, or an emulator running elsewhere); a region and credentials are still needed (any credentials for the emulator)',
    }),
  AWS_REGION: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region name such as us-east-1')
    .optional()
    .meta({
      group: 'backend',
      typeText: 'region name (`us-east-1`)',
      defaultText: 'SDK default chain',
      description: "with `ER_BACKEND=aws`, the service's region",
    }),
  // The embedded emulator's, with the bounds the standalone emulator has.
  ...embeddedEmulatorSettings.shape,
  ER_UPSTREAM_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(120_000)
    .default(10_000)
    .meta({ group: 'upstream', description: 'how long one upstream attempt may wait for an answer' }),
  ER_IDEMPOTENCY_MAX_KEYS: z.coerce.number().int().min(1).max(10_000_000).default(10_000).meta({
    group: 'upstream',
    description:
      "finished starts' idempotency keys kept in memory at most, the least recently used going first (keys of starts under way or with a lost answer are always kept)",
  }),
  ER_POLL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(50)
    .max(3_600_000)
    .optional()
    .meta({ group: 'upstream', defaultText: '`5000` (`1000` with the emulator)', description: 'time between polls of a watched job' }),
  ER_POLL_BACKOFF_CAP_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(3_600_000)
    .default(60_000)
    .meta({ group: 'upstream', description: 'the longest wait between polls while the service fails' }),
  ER_POLL_FAILURE_LIMIT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(86_400_000)
    .default(120_000)
    .meta({ group: 'upstream', description: 'how long polls of a job may fail before its subscribers get `UPSTREAM_UNAVAILABLE`' }),
  ER_WS_KEEPALIVE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(600_000)
    .default(12_000)
    .meta({ group: 'subscriptions', description: 'websocket ping interval (`0` turns pings off)' }),
  ER_WS_INIT_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(3_000)
    .meta({ group: 'subscriptions', description: 'a websocket must send `connection_init` within this time' }),
  ER_SUBSCRIBER_QUEUE: z.coerce.number().int().min(1).max(10_000).default(8).meta({
    group: 'subscriptions',
    description: 'undelivered events kept per subscription; a subscriber further behind skips to the latest state',
  }),
  ER_CALLBACK_CONNECTIONS: z.coerce.number().int().min(1).max(4096).default(64).meta({
    group: 'subscriptions',
    description:
      'connections kept open to each router origin for callback messages; each carries one message at a time, so one origin gets at most this many divided by its answer time per second (`er_gateway_callback_messages_total`)',
  }),
  ER_CALLBACK_URL_ALLOW: commaList
    .pipe(
      z.array(
        z
          .string()
          .regex(/^https?:\/\/[^/]/i, 'must be an http(s) origin or a glob over http(s) URLs')
          .refine((entry) => !entry.includes('?') && !entry.includes('#'), 'is matched against the origin and path only: no ? or #')
          .refine(CallbackUrls.readable, 'must be `scheme://host[:port][/path]`, host and path may be globs, with no user info'),
      ),
    )
    .default([])
    .meta({
      group: 'subscriptions',
      typeText: 'comma-separated URLs or globs (`https://*.routers.internal/callback/**`)',
      defaultText: 'unset: callback mode is refused (`FORBIDDEN`)',
      description:
        "the routers' callback URLs the gateway may POST subscription messages to (HTTP callback protocol), best with a path (`https://router.internal:4000/callback/**`): an entry without one allows any path. Host and path may be globs (picomatch): the host is matched in any case, a label at a time (`*` is one label, `**` several), the path as written (`*` stops at `/`); the scheme's default port is the same as none. Matched on the URL, not on the address its host resolves to. A subscription naming any other URL is refused with `FORBIDDEN` before anything is called",
    }),
  ER_WS_MAX_BUFFERED_BYTES: z.coerce.number().int().min(1024).max(1_073_741_824).default(1_048_576).meta({
    group: 'subscriptions',
    description: 'a websocket whose unsent output passes this is closed with 1013 (a client that reads too slowly or not at all)',
  }),
  ER_REQUEST_DEADLINE_MS: z.coerce.number().int().min(100).max(600_000).default(10_000).meta({
    group: 'upstream',
    description:
      'how long one request (HTTP, or a query or mutation over a websocket) may wait for the service in all, every retry and rate-budget wait included; fields that cannot make it fail alone (`THROTTLED`, or `UPSTREAM_UNAVAILABLE` with `reason: "deadline"`)',
  }),
  ER_SHUTDOWN_DRAIN_MS: z.coerce.number().int().min(0).max(600_000).default(10_000).meta({
    group: 'service',
    description:
      'on SIGTERM, how long in-flight requests may finish; then those still waiting are answered with `UPSTREAM_UNAVAILABLE` (`reason: "shutdown"`)',
  }),
  ER_SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).max(600_000).optional().meta({
    group: 'service',
    defaultText: '`5000` with `NODE_ENV=production`, else `0`',
    description:
      "on SIGTERM, `/readyz` answers 503 at once, and the gateway goes on serving new requests and connections for this long before it stops accepting, closes websockets (1001) and event streams, and drains: load balancers and Kubernetes endpoints keep sending for a few seconds after a replica is told to stop, and this covers them (set it above the load balancer's check interval × the failed checks that mark a server down). 0 outside production, where nothing routes to the process and a stop should be quick; see [Replicas and deploying](replicas-and-deploying.md#shutting-down)",
  }),
  ER_START_CLOCK_SKEW_MS: z.coerce.number().int().min(0).max(3_600_000).default(10_000).meta({
    group: 'upstream',
    description:
      "how far the service's clock may differ from the gateway's when a lost start is looked for (see [Starting jobs](../frontend/starting-jobs.md))",
  }),
  ER_START_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(15_000).meta({
    group: 'upstream',
    description:
      "how long a start's call to the service may last in all (rate-budget wait, attempts, retries after throttling) before it is cut; with the skew allowance, the window in which a start whose answer was lost may still land (see [Starting jobs](../frontend/starting-jobs.md))",
  }),
  ER_POLL_SHARE: z.coerce.number().min(0).max(0.9).default(0.2).meta({
    group: 'upstream',
    description:
      "the share of each operation's rate budget that polls of watched jobs keep while queries wait for it too: one token in five by default, so no flood of queries can stop live updates",
  }),
  ER_INLINE_TRACING: z.enum(['true', 'false']).default('true').meta({
    group: 'federation',
    description:
      'federated tracing (`ftv1`) for a router that asks for it (with `ER_ROUTER_SECRET`, only the router; without it, only while introspection is on); `false` turns it off',
  }),
  ER_INTROSPECTION: z.enum(['true', 'false']).optional().meta({
    group: 'federation',
    defaultText: '`false` with `NODE_ENV=production`, else `true`',
    description:
      'schema introspection, over HTTP, websockets and SSE alike; off, `__schema`, `__type` and (but for the router) `_service` are refused wherever they appear in a document, and error messages suggest no field names',
  }),
  ER_DASHBOARD: z.enum(['true', 'false']).default('true').meta({
    group: 'service',
    description: '`false` turns off the dashboard page at `/dashboard/` (see [The dashboard](../frontend/dashboard-and-ide.md))',
  }),
  ER_IDE: z.enum(['graphiql', 'sandbox', 'off']).optional().meta({
    group: 'service',
    defaultText: '`off` with `NODE_ENV=production`, else `graphiql`',
    description:
      "the GraphQL IDE for browsers (see [The IDE](../frontend/dashboard-and-ide.md)): `graphiql` serves GraphiQL at `/ide/`, offline (a browser's GET `/graphql` is sent there, but in production, where the plain page at `/graphql` links it); `sandbox` serves Apollo's embedded Sandbox at GET `/graphql` (from Apollo's CDN: needs the internet); `off` neither (`/ide/` answers 404, `/graphql` shows the plain page)",
  }),
  ER_START_WITHOUT_AWS: z.enum(['true', 'false']).default('false').meta({
    group: 'backend',
    description:
      'with `ER_BACKEND=aws`, start even when the SDK finds no region or no credentials: `/readyz` stays 503 (`checks.aws: false`) and clients get `GATEWAY_MISCONFIGURED` until they resolve (looked for again every 30 s); by default the gateway refuses to start, naming what is missing',
  }),
  ER_ROUTER_SECRET: z.string().min(16, 'must be at least 16 characters').optional().meta({
    group: 'federation',
    description:
      'a secret the router sends as `X-Router-Secret`: with it, `_service { sdl }` and `ftv1` traces are answered whatever `ER_INTROSPECTION` says',
  }),
  ER_METRICS_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(9464)
    .meta({ group: 'service', description: "the port of `/metrics`, a listener apart from the service's (`0` picks a free one)" }),
  ER_METRICS_HOST: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .meta({ group: 'service', description: 'where `/metrics` listens; `0.0.0.0` for a scraper on another host' }),
  ER_MAX_UPSTREAM_CALLS: z.coerce.number().int().min(1).max(100_000).default(200).meta({
    group: 'limits',
    description:
      'an operation whose estimated upstream calls (see [Limits](limits-and-cost.md)) pass this is refused with `LIMIT_EXCEEDED` before anything runs',
  }),
  ER_MAX_ENTITIES: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(100)
    .meta({ group: 'limits', description: 'representations one `_entities` may name' }),
  ER_BODY_LIMIT_BYTES: z.coerce.number().int().min(1024).max(104_857_600).default(102_400).meta({
    group: 'http',
    description: 'the largest request body, and the largest websocket message (a larger one closes the socket with 1009)',
  }),
  ER_HTTP_HEADERS_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(10_000)
    .meta({ group: 'http', description: "a client must send its request's headers within this (else 408 and the connection closes)" }),
  ER_HTTP_REQUEST_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(30_000)
    .meta({ group: 'http', description: 'a client must send its whole request within this (at least the headers timeout)' }),
  ER_HTTP_KEEPALIVE_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(600_000)
    .default(5_000)
    .meta({ group: 'http', description: 'an idle keep-alive connection is closed after this' }),
  ER_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).optional().meta({
    group: 'http',
    defaultText: '`10000`, or the file descriptor limit (`ulimit -n`) less 128 when that is lower (read on Linux)',
    description:
      'connections (HTTP and websockets) held at once; past it new ones are refused, so the process never runs out of descriptors',
  }),
  ER_STREAMS_PER_CLIENT: z.coerce.number().int().min(1).max(100_000).default(20).meta({
    group: 'subscriptions',
    description:
      'streams one client (principal, else address) may hold at once, websockets, SSE streams and callback subscriptions together; one more websocket is closed with 1008, one more SSE or callback subscription request is 429 `LIMIT_EXCEEDED` (replaces `ER_WS_SOCKETS_PER_CLIENT`, which now stops start-up naming this one)',
  }),
  ER_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).optional().meta({
    group: 'http',
    defaultText: 'a tenth of `ER_MAX_CONNECTIONS`',
    description:
      "connections of every kind one address may hold at once (at most `ER_MAX_CONNECTIONS`); one more is closed at once. A trusted proxy's address (`ER_TRUST_PROXY`) is exempt",
  }),
  // Renamed: read only to say so, as a setting silently dropped would lift the limit it set.
  ER_WS_SOCKETS_PER_CLIENT: z.string().optional().meta({
    group: 'removed',
    typeText: 'any: set, it stops start-up',
    description: 'renamed `ER_STREAMS_PER_CLIENT`, which counts SSE streams beside websockets; set that instead',
  }),
  ER_WS_SUBSCRIPTIONS_PER_SOCKET: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(100)
    .meta({ group: 'subscriptions', description: 'subscriptions one websocket may hold at once (`LIMIT_EXCEEDED` past it)' }),
  ER_WATCHED_JOBS_PER_CLIENT: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .default(50)
    .meta({ group: 'subscriptions', description: 'distinct jobs one client may watch at once over all its sockets (each is a poller)' }),
  ER_WS_MESSAGES_PER_SECOND: z.coerce.number().min(1).max(100_000).default(100).meta({
    group: 'subscriptions',
    description:
      'messages, pings included, a websocket may send per second (bursts of twice as many); past it the socket is closed with 1008',
  }),
  ER_TRUST_PROXY: z
    .union([
      z.string().regex(/^\d+$/).transform(Number),
      commaList.pipe(
        z
          .array(
            z
              .string()
              .regex(
                /^(loopback|linklocal|uniquelocal|[0-9a-fA-F.:]+(\/\d+)?)$/,
                'must be a hop count, or addresses and CIDRs (or loopback, linklocal, uniquelocal)',
              ),
          )
          .min(1),
      ),
    ])
    .optional()
    .meta({
      group: 'http',
      typeText: 'a hop count, or a comma-separated list of addresses, CIDRs, `loopback`, `linklocal`, `uniquelocal`',
      defaultText: 'unset (none)',
      description:
        "which proxies' `X-Forwarded-For` names the client: a hop count (`1` behind one load balancer) or addresses and CIDRs (`10.0.0.0/8,loopback`). Clients are told apart by it when they are anonymous; the proxies' own connections are exempt from `ER_MAX_CONNECTIONS_PER_ADDRESS` (all of them with a hop count)",
    }),
  ER_FINAL_JOB_CACHE_SIZE: z.coerce
    .number()
    .int()
    .min(0)
    .max(10_000_000)
    .default(10_000)
    .meta({ group: 'caching', description: 'finished jobs kept in memory (they never change); `0` keeps none' }),
  ER_FRESHNESS_MS: z.coerce.number().int().min(0).max(600_000).default(1000).meta({
    group: 'caching',
    description: "how long a running job's latest snapshot serves queries without a new call; `0` turns it off",
  }),
  // Above 0, at least one call in 1000 s: the governor's waits (1000 / rate ms at most) then stay within what Node's timers take.
  ER_RATE_PER_SECOND: z.coerce
    .number()
    .min(0)
    .max(10_000)
    .refine((rate) => rate === 0 || rate >= 0.001, 'must be 0 (off) or at least 0.001')
    .default(5)
    .meta({
      group: 'upstream',
      typeText: 'number, `0` or 0.001–10000',
      description: 'upstream calls per second per operation; `0` turns the governor off',
    }),
  ER_RATE_BURST: z.coerce.number().int().min(1).max(10_000).optional().meta({
    group: 'upstream',
    defaultText: '`1`',
    description:
      "calls per operation that may go at once after a quiet spell (`1` spaces calls evenly; raise it if your account's limit allows bursts)",
  }),
  ER_RATE_MAX_WAIT_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(600_000)
    .default(5000)
    .meta({ group: 'upstream', description: 'a query that would wait longer than this for its turn fails with `THROTTLED`' }),
  ER_FINAL_MAX_AGE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(31_536_000)
    .default(3600)
    .meta({ group: 'caching', description: 'HTTP cache `max-age` of answers about a single finished job' }),
  ER_RESPONSE_CACHE_MB: z.coerce.number().min(0).max(65_536).default(32).meta({
    group: 'caching',
    description:
      'memory for the response cache (whole answers about finished jobs, reused for their `max-age` without executing); `0` turns it off',
  }),
  ER_MAX_DEPTH: z.coerce.number().int().min(1).max(1000).default(12).meta({
    group: 'limits',
    description: 'operations nested deeper are refused (`GRAPHQL_VALIDATION_FAILED`, 400), over HTTP and websockets',
  }),
  ER_MAX_VARIABLES_DEPTH: z.coerce.number().int().min(1).max(1000).default(32).meta({
    group: 'limits',
    description:
      "variables nesting lists and input objects deeper are refused (`BAD_USER_INPUT`, 400) before anything reads them, on every transport; the schema's deepest input needs 3",
  }),
  ER_MAX_VARIABLE_VALUES: z.coerce.number().int().min(1).max(1_000_000).default(10_000).meta({
    group: 'limits',
    description:
      "variables holding more values (list items, fields and scalars, counted over all variables) are refused likewise; a router's 100 `_entities` representations hold about 400",
  }),
  ER_MAX_ALIASES: z.coerce
    .number()
    .int()
    .min(0)
    .max(10_000)
    .default(50)
    .meta({ group: 'limits', description: 'operations with more aliases are refused' }),
  ER_MAX_COST: z.coerce.number().int().min(1).max(10_000_000).default(50_000).meta({
    group: 'limits',
    description:
      "operations whose structural cost (graphql-armor's: fields weighted by depth) passes this are refused; a 100-job list asking every job field scores about 10,000",
  }),
  ER_AUTH: commaList
    .pipe(
      z.union([
        z.tuple([z.literal('none')]),
        z
          .array(z.enum(['jwt', 'apikey']))
          .min(1)
          .refine((modes) => new Set(modes).size === modes.length, 'names a mode twice'),
      ]),
    )
    .optional()
    .meta({
      group: 'auth',
      typeText: '`jwt`, `apikey`, `jwt,apikey` or `none`',
      defaultText: '`none` with the emulator; **required** with `ER_BACKEND=aws`',
      description: 'who may call the gateway: `jwt`, `apikey`, `jwt,apikey`, or `none` (see [Securing it](securing.md))',
    }),
  ER_JWT_JWKS_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .meta({
      group: 'auth',
      typeText: 'http(s) URL',
      description: "with `jwt`: the issuer's JWKS (cached ten minutes; a token naming an unknown key fetches it again, at most every 30 s)",
    }),
  ER_JWT_PUBLIC_KEY_FILE: z
    .string()
    .min(1)
    .optional()
    .meta({ group: 'auth', typeText: 'file path', description: 'with `jwt`, instead of a JWKS: one public key, SPKI PEM' }),
  ER_JWT_ISSUER: z.string().min(1).optional().meta({
    group: 'auth',
    defaultText: 'unset (not checked)',
    description: 'the `iss` tokens must carry; set it (and `ER_JWT_AUDIENCE`) in production',
  }),
  ER_JWT_AUDIENCE: z.string().min(1).optional().meta({
    group: 'auth',
    defaultText: 'unset (not checked)',
    description: 'the `aud` tokens must carry; set it (and `ER_JWT_ISSUER`) in production',
  }),
  ER_JWT_ALGORITHMS: commaList
    .pipe(z.array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])).min(1))
    .default(['RS256', 'ES256'])
    .meta({
      group: 'auth',
      typeText: 'comma-separated list of `RS256`, `RS384`, `RS512`, `PS256`, `PS384`, `PS512`, `ES256`, `ES384`, `ES512`, `EdDSA`',
      defaultText: '`RS256,ES256`',
      description: 'signature algorithms accepted (asymmetric only)',
    }),
  ER_JWT_CLOCK_SKEW_S: z.coerce
    .number()
    .int()
    .min(0)
    .max(600)
    .default(30)
    .meta({ group: 'auth', description: "how far the issuer's clock may differ from ours, in seconds" }),
  ER_JWT_GROUPS_CLAIM: z
    .string()
    .min(1)
    .default('groups')
    .meta({ group: 'auth', description: "the claim holding a user's groups (`cognito:groups` for Cognito)" }),
  ER_JWT_JWKS_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000).meta({
    group: 'auth',
    description:
      'how long one fetch of the JWKS may take in all, headers and body; past it the fetch is abandoned and its connection closed (see [Securing it](securing.md))',
  }),
  ER_JWT_JWKS_GRACE_MS: z.coerce.number().int().min(0).max(86_400_000).default(3_600_000).meta({
    group: 'auth',
    defaultText: '`3600000` (1 hour)',
    description: 'past its ten minutes, how long the last good JWKS still checks tokens while fetching a new one fails; `0` for none',
  }),
  ER_API_KEYS_FILE: z
    .string()
    .min(1)
    .optional()
    .meta({ group: 'auth', typeText: 'file path', description: 'with `apikey`: `keys: [{ name, sha256, groups }]` (YAML or JSON)' }),
  ER_API_KEYS: z
    .string()
    .min(1)
    .optional()
    .meta({ group: 'auth', typeText: '`name:sha256hex,…`', description: 'with `apikey`, or beside the file: `name:sha256hex,…`' }),
  ER_POLICY_FILE: z.string().min(1).optional().meta({
    group: 'auth',
    typeText: 'file path',
    defaultText: "unset (with `none`: anyone may do anything; starts write to the workflow's own output only)",
    description: 'the policy, YAML or JSON; required with `jwt` or `apikey`',
  }),
  ER_ALLOWED_ORIGINS: commaList
    .pipe(
      z.array(
        z.union([
          z.literal('*'),
          z
            .url({ protocol: /^https?$/ })
            .refine(
              (origin) => URL.canParse(origin) && new URL(origin).origin === origin,
              'must be an origin: scheme://host[:port], no path or trailing slash',
            ),
        ]),
      ),
    )
    .optional()
    .meta({
      group: 'auth',
      typeText: 'comma-separated origins (`scheme://host[:port]`), or `*`',
      defaultText: "unset: the gateway's own origin and pages on `localhost`, `127.0.0.1`, `[::1]`",
      description:
        "origins (`https://app.example.com`, comma-separated; `*` for any) whose pages may call the gateway, over HTTP (CORS) and websockets; the gateway's own origin always may",
    }),
  ER_ALLOWED_HOSTS: commaList
    .pipe(z.array(z.string().regex(/^(\*|[a-zA-Z0-9.-]+|\[?[0-9a-fA-F:]+\]?)$/, 'must be host names without ports, or *')).min(1))
    .optional()
    .meta({
      group: 'auth',
      typeText: 'comma-separated host names without ports, or `*`',
      defaultText: '`localhost,127.0.0.1,::1` and `HOST` when it is one address',
      description: 'host names (no ports) the gateway answers to; `*` for any. Stops DNS rebinding; `/healthz` answers any host',
    }),
  ER_ACCOUNT_ID: z
    .string()
    .regex(/^\d{12}$/, 'must be a 12-digit AWS account id')
    .optional()
    .meta({
      group: 'backend',
      typeText: '12-digit AWS account id',
      defaultText: "the emulator's; unset with AWS",
      description: 'with AWS: the account whose workflow ARNs are taken (names are always taken); unset, ARNs are refused',
    }),
  ER_TRUSTED_DOCUMENTS: z.string().min(1).optional().meta({
    group: 'auth',
    typeText: 'file path',
    defaultText: 'unset (any operation)',
    description:
      'a manifest of trusted documents (see [For frontend teams](../frontend/clients.md)): only its operations run, on HTTP, websockets and SSE',
  }),
  ER_REDIS_URL: z
    .string()
    .superRefine((url, ctx) => {
      try {
        parseRedisUrl(url);
      } catch (err) {
        if (!(err instanceof RedisUrlError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message });
      }
    })
    .optional()
    .meta({
      group: 'replicas',
      typeText:
        '`redis://[user:password@]host:port/db`; `redis+sentinel://[user:password@]host:port,…/<master name>[/db][?sentinelPassword=…]`; `redis+cluster://[user:password@]host:port,…`; `rediss…` for TLS',
      defaultText: 'unset (one process, all in memory)',
      description:
        'the Redis replicas share: one server, the primary Sentinel names (followed across failovers), or a Redis Cluster from seed nodes; needs `ER_BACKEND=aws`, so that replicas share one service too (see [Running several replicas](replicas-and-deploying.md))',
    }),
  ER_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1 to 64 letters, digits or _ . : -')
    .default('er-gateway:')
    .meta({
      group: 'replicas',
      typeText: '1 to 64 letters, digits or `_ . : -`',
      description: 'the prefix of every key and channel in Redis; give each deployment its own',
    }),
  ER_FINAL_JOB_TTL_S: z.coerce
    .number()
    .int()
    .min(60)
    .max(31_536_000)
    .default(604_800)
    .meta({ group: 'replicas', defaultText: '`604800` (7 days)', description: 'how long a finished job is kept in Redis, in seconds' }),
  ER_REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(1000).meta({
    group: 'replicas',
    description:
      "how long any Redis command, and the ping behind `/readyz`, may wait for Redis's answer; past it the command fails and the shared parts fall back or refuse (see [Operations](operations.md))",
  }),
  ER_CURSOR_KEY: z
    .string()
    .refine(
      (key) => /^[A-Za-z0-9+/_-]+={0,2}$/.test(key) && Buffer.from(key, 'base64').length === 32,
      'must be 32 bytes in base64, e.g. from `openssl rand -base64 32`',
    )
    .transform((key) => Buffer.from(key, 'base64'))
    .optional()
    .meta({
      group: 'replicas',
      typeText: '32 bytes in base64',
      defaultText: 'unset: made at start; with `ER_REDIS_URL`, shared through Redis',
      description:
        'the key list cursors are encrypted with (AES-256-GCM): `openssl rand -base64 32` makes one; the same on every replica (see [Securing it](securing.md))',
    }),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .meta({ group: 'service', description: 'how much is logged (JSON logs by pino)' }),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto').meta({
    group: 'service',
    description:
      "`json`: one JSON object a line (pino's); `pretty`: pino-pretty's readable lines; `auto`: `pretty` when stdout is a terminal and `NODE_ENV` is not `production`, else `json`",
  }),
  OTEL_SDK_DISABLED: z.enum(['true', 'false']).default('false').meta({
    group: 'observing',
    description: '`true` turns tracing off even with an endpoint set',
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .url({ protocol: /^https?$/ })
    .optional()
    .meta({
      group: 'observing',
      typeText: 'http(s) URL',
      defaultText: 'unset: tracing off',
      description:
        'the OTLP/HTTP collector traces go to (`/v1/traces` is added); tracing is off unless this or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (see [Observing it](observing.md))',
    }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z
    .url({ protocol: /^https?$/ })
    .optional()
    .meta({
      group: 'observing',
      typeText: 'http(s) URL',
      defaultText: 'unset',
      description: 'the full URL traces are posted to, instead of `OTEL_EXPORTER_OTLP_ENDPOINT`/v1/traces',
    }),
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json', 'grpc']).default('http/protobuf').meta({
    group: 'observing',
    description: 'OTLP over HTTP, as protobuf or JSON; `grpc` is refused (the gateway exports over HTTP only)',
  }),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: z
    .enum(['http/protobuf', 'http/json', 'grpc'])
    .optional()
    .meta({ group: 'observing', defaultText: '`OTEL_EXPORTER_OTLP_PROTOCOL`', description: 'the protocol of traces alone' }),
  OTEL_EXPORTER_OTLP_HEADERS: z.string().optional().meta({
    group: 'observing',
    typeText: '`name=value,…` (values URL-encoded)',
    description:
      "headers sent with every export, e.g. a collector's API key; a signal's own `OTEL_EXPORTER_OTLP_TRACES_HEADERS` or `OTEL_EXPORTER_OTLP_METRICS_HEADERS` replaces it for that signal",
  }),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: z.string().optional().meta({
    group: 'observing',
    typeText: '`name=value,…` (values URL-encoded)',
    defaultText: '`OTEL_EXPORTER_OTLP_HEADERS`',
    description: 'the headers sent with trace exports alone, instead of (not beside) `OTEL_EXPORTER_OTLP_HEADERS`',
  }),
  OTEL_METRICS_EXPORTER: z
    .string()
    .regex(/^(otlp|none|prometheus)(,(otlp|none|prometheus))*$/, 'must be otlp, none or prometheus (or a comma-separated list of them)')
    .default('otlp')
    .meta({
      group: 'observing',
      description:
        '`otlp`: the metrics are also exported over OTLP/HTTP when an OTLP endpoint is set; `none` or `prometheus`: not (the Prometheus listener serves `/metrics` whatever this says)',
    }),
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: z
    .url({ protocol: /^https?$/ })
    .optional()
    .meta({
      group: 'observing',
      typeText: 'http(s) URL',
      defaultText: '`OTEL_EXPORTER_OTLP_ENDPOINT`/v1/metrics',
      description: 'the full URL metrics are posted to; set alone, it exports the metrics without turning tracing on',
    }),
  OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: z
    .enum(['http/protobuf', 'http/json', 'grpc'])
    .optional()
    .meta({ group: 'observing', defaultText: '`OTEL_EXPORTER_OTLP_PROTOCOL`', description: 'the protocol of metrics alone' }),
  OTEL_EXPORTER_OTLP_METRICS_HEADERS: z.string().optional().meta({
    group: 'observing',
    typeText: '`name=value,…` (values URL-encoded)',
    defaultText: '`OTEL_EXPORTER_OTLP_HEADERS`',
    description:
      "the headers sent with metric exports alone, instead of (not beside) `OTEL_EXPORTER_OTLP_HEADERS`: set it when the metrics go to a collector of their own that must not get the traces' key",
  }),
  OTEL_METRIC_EXPORT_INTERVAL: z.coerce
    .number()
    .int()
    .min(100)
    .max(3_600_000)
    .default(60_000)
    .meta({ group: 'observing', description: 'ms between OTLP exports of the metrics (and one more at shutdown)' }),
  ER_OTLP_EXPORT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(2000).meta({
    group: 'observing',
    description:
      'ms an OTLP export (a batch of spans, or the metrics) may take before it is abandoned; at shutdown the last spans and metrics are exported at once within it, so a collector that never answers delays the exit this long at most',
  }),
  OTEL_SERVICE_NAME: z.string().min(1).default('er-gateway').meta({ group: 'observing', description: "the spans' `service.name`" }),
  OTEL_RESOURCE_ATTRIBUTES: z.string().optional().meta({
    group: 'observing',
    typeText: '`key=value,…` (values URL-encoded)',
    description: 'more resource attributes (`deployment.environment.name=prod,service.namespace=data`)',
  }),
  OTEL_TRACES_SAMPLER: z
    .enum(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'])
    .default('parentbased_always_on')
    .meta({
      group: 'observing',
      description:
        "which traces are kept: `parentbased_*` follows the caller's `traceparent` sampled flag and applies the rest to traces that start here",
    }),
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(1)
    .meta({ group: 'observing', description: 'with `traceidratio` and `parentbased_traceidratio`: the share of traces kept (`0.1`)' }),
  ER_TRACE_REMOTE_PARENT: z.enum(['follow', 'ratio', 'ignore']).default('follow').meta({
    group: 'observing',
    description:
      "what a caller's `traceparent` decides with a `parentbased_*` sampler: `follow` keeps the traces a caller sampled (what routers expect); `ratio` continues the caller's trace but keeps it by `OTEL_TRACES_SAMPLER_ARG` alone, on its trace id hashed with a secret of the process's own, so no flag or trace id a client sends forces sampling; `ignore` starts a trace of its own per operation, linked to the caller's span",
  }),
  OTEL_BSP_SCHEDULE_DELAY: z.coerce
    .number()
    .int()
    .min(10)
    .max(60_000)
    .default(5000)
    .meta({ group: 'observing', description: 'ms between exports of the finished spans' }),
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: z.coerce.number().int().min(1).max(65_536).default(512).meta({
    group: 'observing',
    description:
      'the most spans one export sends: a full batch is sent at once, without waiting for `OTEL_BSP_SCHEDULE_DELAY`; at most `OTEL_BSP_MAX_QUEUE_SIZE`',
  }),
  OTEL_BSP_MAX_QUEUE_SIZE: z.coerce.number().int().min(1).max(1_048_576).default(2048).meta({
    group: 'observing',
    description:
      'the most finished spans kept waiting for export; past it (a collector slower than the spans come) further spans are dropped until an export frees room',
  }),
  ER_TRACE_DOCUMENT: z.enum(['true', 'false']).default('false').meta({
    group: 'observing',
    description: "`true` puts each operation's document in its span (`graphql.document`); variables never are",
  }),
  ER_TRACE_RESOLVERS: z.enum(['true', 'false']).default('false').meta({
    group: 'observing',
    description:
      '`true` adds a span per field resolver that does work (returns a promise: loaders, calls, checks), named `graphql.resolve Parent.field` (the path, aliases and list indexes included, is its `graphql.field.path`), under the operation span; property reads get none',
  }),
  ER_METRICS_OPERATION_NAMES: z.coerce.number().int().min(1).max(10_000).default(100).meta({
    group: 'observing',
    description:
      'distinct operation names the per-operation metrics keep as labels; names past them (and anonymous operations) are counted under `__other`',
  }),
});

/** Reads the settings from `source` (process.env in production); throws ConfigError naming every bad variable. */
export function loadConfig(source: Record<string, string | undefined>) {
  // An empty variable counts as unset, as shells and compose files often leave them.
  const present = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = settingsSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${String(issue.path[0])}: ${issue.message}`).join('\n'));
  }
  const vars = parsed.data;
  if (vars.NODE_ENV === 'production' && vars.ER_BACKEND === undefined) {
    throw new ConfigError('ER_BACKEND: must be set to "aws" or "emulator" when NODE_ENV=production.');
  }
  const backend = vars.ER_BACKEND ?? 'emulator';
  if (backend === 'emulator' && vars.ER_ENDPOINT !== undefined) {
    throw new ConfigError('ER_ENDPOINT: applies to ER_BACKEND=aws only; the embedded emulator picks its own port.');
  }
  if (backend === 'emulator' && vars.ER_REDIS_URL !== undefined) {
    // Each replica would answer from an emulator of its own while the Redis they share answers for all: a job started on one is NOT_FOUND on another, yet its idempotency key names it.
    throw new ConfigError(
      'ER_REDIS_URL: replicas that share Redis must share one service, but each would run an embedded emulator of its own (ER_BACKEND unset or "emulator"). Run one emulator for all of them (`npm run emulator`) and set ER_BACKEND=aws and ER_ENDPOINT=http://<its host>:4610 on every replica (with ER_AUTH, AWS_REGION=us-east-1 and any AWS credentials); or unset ER_REDIS_URL to run one gateway alone.',
    );
  }
  if (backend === 'aws' && vars.ER_AUTH === undefined) {
    throw new ConfigError(
      'ER_AUTH: must be set with ER_BACKEND=aws: "jwt", "apikey" or "jwt,apikey" (with ER_POLICY_FILE), or "none" to expose the AWS account to anyone who reaches the gateway.',
    );
  }
  const modes = vars.ER_AUTH?.[0] === 'none' ? [] : ((vars.ER_AUTH ?? []) as AuthMode[]);
  if (modes.includes('jwt') && (vars.ER_JWT_JWKS_URL === undefined) === (vars.ER_JWT_PUBLIC_KEY_FILE === undefined)) {
    throw new ConfigError('ER_JWT_JWKS_URL, ER_JWT_PUBLIC_KEY_FILE: ER_AUTH=jwt needs exactly one of them.');
  }
  if (modes.includes('apikey') && vars.ER_API_KEYS_FILE === undefined && vars.ER_API_KEYS === undefined) {
    throw new ConfigError('ER_API_KEYS_FILE, ER_API_KEYS: ER_AUTH=apikey needs one of them.');
  }
  if (vars.OTEL_BSP_MAX_EXPORT_BATCH_SIZE > vars.OTEL_BSP_MAX_QUEUE_SIZE) {
    throw new ConfigError('OTEL_BSP_MAX_EXPORT_BATCH_SIZE: must be at most OTEL_BSP_MAX_QUEUE_SIZE, as a batch is taken from the queue.');
  }
  if (vars.ER_HTTP_REQUEST_TIMEOUT_MS < vars.ER_HTTP_HEADERS_TIMEOUT_MS) {
    throw new ConfigError('ER_HTTP_REQUEST_TIMEOUT_MS: must be at least ER_HTTP_HEADERS_TIMEOUT_MS, as a request includes its headers.');
  }
  if (vars.ER_WS_SOCKETS_PER_CLIENT !== undefined) {
    throw new ConfigError(
      'ER_WS_SOCKETS_PER_CLIENT: renamed ER_STREAMS_PER_CLIENT, which counts SSE streams beside websockets; set that instead.',
    );
  }
  if (
    vars.ER_MAX_CONNECTIONS_PER_ADDRESS !== undefined &&
    vars.ER_MAX_CONNECTIONS !== undefined &&
    vars.ER_MAX_CONNECTIONS_PER_ADDRESS > vars.ER_MAX_CONNECTIONS
  ) {
    throw new ConfigError(
      'ER_MAX_CONNECTIONS_PER_ADDRESS: must be at most ER_MAX_CONNECTIONS, or one address could take every connection.',
    );
  }
  if ((vars.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? vars.OTEL_EXPORTER_OTLP_PROTOCOL) === 'grpc') {
    throw new ConfigError(
      'OTEL_EXPORTER_OTLP_PROTOCOL: the gateway exports OTLP over HTTP: set http/protobuf or http/json (a collector takes both).',
    );
  }
  if (vars.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL === 'grpc') {
    throw new ConfigError('OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: the gateway exports OTLP over HTTP: set http/protobuf or http/json.');
  }
  if (modes.length > 0 && vars.ER_POLICY_FILE === undefined) {
    throw new ConfigError(`ER_POLICY_FILE: required with ER_AUTH=${modes.join(',')}; without a policy no one may do anything.`);
  }
  return {
    nodeEnv: vars.NODE_ENV,
    port: vars.PORT,
    host: vars.HOST,
    backend,
    endpoint: vars.ER_ENDPOINT,
    region: vars.AWS_REGION,
    startWithoutAws: vars.ER_START_WITHOUT_AWS === 'true',
    emulatorJobSeconds: vars.ER_EMULATOR_JOB_SECONDS,
    emulatorConcurrency: vars.ER_EMULATOR_CONCURRENCY,
    emulatorConcurrencyError: vars.ER_EMULATOR_CONCURRENCY_ERROR,
    upstreamTimeoutMs: vars.ER_UPSTREAM_TIMEOUT_MS,
    idempotencyMaxKeys: vars.ER_IDEMPOTENCY_MAX_KEYS,
    pollIntervalMs: vars.ER_POLL_INTERVAL_MS ?? (backend === 'emulator' ? 1000 : 5000),
    pollBackoffCapMs: vars.ER_POLL_BACKOFF_CAP_MS,
    pollFailureLimitMs: vars.ER_POLL_FAILURE_LIMIT_MS,
    wsKeepAliveMs: vars.ER_WS_KEEPALIVE_MS,
    wsInitTimeoutMs: vars.ER_WS_INIT_TIMEOUT_MS,
    subscriberQueue: vars.ER_SUBSCRIBER_QUEUE,
    wsMaxBufferedBytes: vars.ER_WS_MAX_BUFFERED_BYTES,
    requestDeadlineMs: vars.ER_REQUEST_DEADLINE_MS,
    shutdownDrainMs: vars.ER_SHUTDOWN_DRAIN_MS,
    shutdownDelayMs: vars.ER_SHUTDOWN_DELAY_MS ?? (vars.NODE_ENV === 'production' ? 5000 : 0),
    startClockSkewMs: vars.ER_START_CLOCK_SKEW_MS,
    startTimeoutMs: vars.ER_START_TIMEOUT_MS,
    pollShare: vars.ER_POLL_SHARE,
    inlineTracing: vars.ER_INLINE_TRACING === 'true',
    introspection: (vars.ER_INTROSPECTION ?? (vars.NODE_ENV === 'production' ? 'false' : 'true')) === 'true',
    dashboard: vars.ER_DASHBOARD === 'true',
    ide: vars.ER_IDE ?? (vars.NODE_ENV === 'production' ? 'off' : 'graphiql'),
    routerSecret: vars.ER_ROUTER_SECRET,
    metricsPort: vars.ER_METRICS_PORT,
    metricsHost: vars.ER_METRICS_HOST,
    maxUpstreamCalls: vars.ER_MAX_UPSTREAM_CALLS,
    maxEntities: vars.ER_MAX_ENTITIES,
    bodyLimitBytes: vars.ER_BODY_LIMIT_BYTES,
    httpHeadersTimeoutMs: vars.ER_HTTP_HEADERS_TIMEOUT_MS,
    httpRequestTimeoutMs: vars.ER_HTTP_REQUEST_TIMEOUT_MS,
    httpKeepAliveTimeoutMs: vars.ER_HTTP_KEEPALIVE_TIMEOUT_MS,
    maxConnections: vars.ER_MAX_CONNECTIONS,
    streamsPerClient: vars.ER_STREAMS_PER_CLIENT,
    callbackUrlAllow: vars.ER_CALLBACK_URL_ALLOW,
    callbackConnections: vars.ER_CALLBACK_CONNECTIONS,
    maxConnectionsPerAddress: vars.ER_MAX_CONNECTIONS_PER_ADDRESS,
    wsSubscriptionsPerSocket: vars.ER_WS_SUBSCRIPTIONS_PER_SOCKET,
    watchedJobsPerClient: vars.ER_WATCHED_JOBS_PER_CLIENT,
    wsMessagesPerSecond: vars.ER_WS_MESSAGES_PER_SECOND,
    trustProxy: vars.ER_TRUST_PROXY,
    finalJobCacheSize: vars.ER_FINAL_JOB_CACHE_SIZE,
    freshnessMs: vars.ER_FRESHNESS_MS,
    ratePerSecond: vars.ER_RATE_PER_SECOND,
    rateBurst: vars.ER_RATE_BURST ?? 1,
    rateMaxWaitMs: vars.ER_RATE_MAX_WAIT_MS,
    finalMaxAgeSeconds: vars.ER_FINAL_MAX_AGE_SECONDS,
    responseCacheMb: vars.ER_RESPONSE_CACHE_MB,
    maxDepth: vars.ER_MAX_DEPTH,
    maxVariablesDepth: vars.ER_MAX_VARIABLES_DEPTH,
    maxVariableValues: vars.ER_MAX_VARIABLE_VALUES,
    maxAliases: vars.ER_MAX_ALIASES,
    maxCost: vars.ER_MAX_COST,
    auth: {
      modes,
      jwt: {
        jwksUrl: vars.ER_JWT_JWKS_URL,
        publicKeyFile: vars.ER_JWT_PUBLIC_KEY_FILE,
        issuer: vars.ER_JWT_ISSUER,
        audience: vars.ER_JWT_AUDIENCE,
        algorithms: vars.ER_JWT_ALGORITHMS,
        clockSkewSeconds: vars.ER_JWT_CLOCK_SKEW_S,
        groupsClaim: vars.ER_JWT_GROUPS_CLAIM,
        jwksTimeoutMs: vars.ER_JWT_JWKS_TIMEOUT_MS,
        jwksGraceMs: vars.ER_JWT_JWKS_GRACE_MS,
      },
      apiKeysFile: vars.ER_API_KEYS_FILE,
      apiKeys: vars.ER_API_KEYS,
      policyFile: vars.ER_POLICY_FILE,
    } satisfies AuthSettings,
    allowedOrigins: vars.ER_ALLOWED_ORIGINS,
    allowedHosts: vars.ER_ALLOWED_HOSTS ?? OriginGuard.defaultHosts(vars.HOST),
    accountId: vars.ER_ACCOUNT_ID,
    trustedDocuments: vars.ER_TRUSTED_DOCUMENTS,
    redisUrl: vars.ER_REDIS_URL,
    redisPrefix: vars.ER_REDIS_PREFIX,
    finalJobTtlSeconds: vars.ER_FINAL_JOB_TTL_S,
    redisCommandTimeoutMs: vars.ER_REDIS_COMMAND_TIMEOUT_MS,
    cursorKey: vars.ER_CURSOR_KEY,
    logLevel: vars.LOG_LEVEL,
    logFormat: vars.LOG_FORMAT,
    tracing: tracingSettings(vars),
    metricsExport: metricsExportSettings(vars),
    metricsOperationNames: vars.ER_METRICS_OPERATION_NAMES,
  };
}

/** `name=value,…` with URL-encoded values (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES), as the OpenTelemetry spec writes them. */
function keyValueList(name: string, text: string | undefined): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const item of (text ?? '').split(',')) {
    if (item.trim() === '') continue;
    const at = item.indexOf('=');
    if (at <= 0) throw new ConfigError(`${name}: "${item.trim()}" is not name=value.`);
    try {
      pairs[decodeURIComponent(item.slice(0, at).trim())] = decodeURIComponent(item.slice(at + 1).trim());
    } catch {
      throw new ConfigError(`${name}: "${item.trim()}" is not URL-encoded.`);
    }
  }
  return pairs;
}

/**
 * One signal's export headers, as the OpenTelemetry spec has them: the
 * signal's own variable when set, replacing the general one (not merged
 * with it), so a key meant for one collector need not reach the other.
 */
function signalHeaders(vars: z.output<typeof settingsSchema>, signal: 'TRACES' | 'METRICS'): Record<string, string> {
  const own = `OTEL_EXPORTER_OTLP_${signal}_HEADERS` as const;
  return vars[own] === undefined
    ? keyValueList('OTEL_EXPORTER_OTLP_HEADERS', vars.OTEL_EXPORTER_OTLP_HEADERS)
    : keyValueList(own, vars[own]);
}

/** Tracing's settings, from the standard OTEL_* variables: undefined (off) unless an endpoint is set. */
function tracingSettings(vars: z.output<typeof settingsSchema>) {
  const endpoint =
    vars.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (vars.OTEL_EXPORTER_OTLP_ENDPOINT && `${vars.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`);
  if (!endpoint || vars.OTEL_SDK_DISABLED === 'true') return undefined;
  const ratio = vars.OTEL_TRACES_SAMPLER_ARG;
  return {
    endpoint,
    protocol: (vars.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? vars.OTEL_EXPORTER_OTLP_PROTOCOL) as 'http/protobuf' | 'http/json',
    headers: signalHeaders(vars, 'TRACES'),
    serviceName: vars.OTEL_SERVICE_NAME,
    resourceAttributes: keyValueList('OTEL_RESOURCE_ATTRIBUTES', vars.OTEL_RESOURCE_ATTRIBUTES),
    sampler: vars.OTEL_TRACES_SAMPLER,
    remoteParent: vars.ER_TRACE_REMOTE_PARENT,
    ratio: vars.OTEL_TRACES_SAMPLER.endsWith('traceidratio') ? ratio : 1,
    exportDelayMs: vars.OTEL_BSP_SCHEDULE_DELAY,
    maxExportBatchSize: vars.OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    maxQueueSize: vars.OTEL_BSP_MAX_QUEUE_SIZE,
    timeoutMs: vars.ER_OTLP_EXPORT_TIMEOUT_MS,
    document: vars.ER_TRACE_DOCUMENT === 'true',
    resolvers: vars.ER_TRACE_RESOLVERS === 'true',
  };
}

function metricsExportSettings(vars: z.output<typeof settingsSchema>) {
  const endpoint =
    vars.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ??
    (vars.OTEL_EXPORTER_OTLP_ENDPOINT && `${vars.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/metrics`);
  if (!endpoint || vars.OTEL_SDK_DISABLED === 'true' || !vars.OTEL_METRICS_EXPORTER.split(',').includes('otlp')) return undefined;
  return {
    endpoint,
    protocol: (vars.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? vars.OTEL_EXPORTER_OTLP_PROTOCOL) as 'http/protobuf' | 'http/json',
    headers: signalHeaders(vars, 'METRICS'),
    serviceName: vars.OTEL_SERVICE_NAME,
    resourceAttributes: keyValueList('OTEL_RESOURCE_ATTRIBUTES', vars.OTEL_RESOURCE_ATTRIBUTES),
    intervalMs: vars.OTEL_METRIC_EXPORT_INTERVAL,
    timeoutMs: vars.ER_OTLP_EXPORT_TIMEOUT_MS,
  };
}

/** Without ER_MAX_CONNECTIONS_PER_ADDRESS, one address may hold this fraction of the connection cap: ten addresses at least to fill it. */
const CONNECTION_SHARE_DIVISOR = 10;

/** Files the process keeps beside its connections: its own, the SDK's sockets to the service, the emulator's. */
const RESERVED_DESCRIPTORS = 128;

/**
 * 10000 connections, or fewer when the process's file descriptor limit is
 * lower (read from /proc on Linux): past the limit, accept() fails and
 * everything stops, /healthz included.
 */
function defaultMaxConnections(): number {
  let limit = Infinity;
  try {
    const soft = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (soft) limit = Number(soft) - RESERVED_DESCRIPTORS;
  } catch {
    // Not Linux: the operator sets ER_MAX_CONNECTIONS.
  }
  return Math.max(1, Math.min(10_000, limit));
}

/**
 * The connections the server holds at once and those one address may hold:
 * the settings, else 10000 (or fewer, under the file descriptor limit) and a
 * tenth of that.
 */
export function connectionLimits(config: Pick<Config, 'maxConnections' | 'maxConnectionsPerAddress'>): {
  maxConnections: number;
  perAddress: number;
} {
  const maxConnections = config.maxConnections ?? defaultMaxConnections();
  return { maxConnections, perAddress: config.maxConnectionsPerAddress ?? Math.ceil(maxConnections / CONNECTION_SHARE_DIVISOR) };
}

/** Whether the proxy at `address`, `hop` hops from the server, is believed when it names the client (X-Forwarded-For). */
export type TrustProxy = (address: string, hop: number) => boolean;

/** The proxies ER_TRUST_PROXY believes: the nearest `hops`, or those at the listed addresses. Unset: none. */
export function trustedProxies(setting: Config['trustProxy']): TrustProxy | undefined {
  if (setting === undefined) return undefined;
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return proxyAddr.compile(setting);
}
