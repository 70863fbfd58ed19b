import { ConfigError, loadConfig } from '../src/server/config';
import { parseRedisUrl } from '../src/cluster/redis-url';

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

test('defaults: port 4000 on 127.0.0.1 with the embedded emulator', () => {
  expect(loadConfig({})).toEqual({
    nodeEnv: 'development',
    port: 4000,
    host: '127.0.0.1',
    backend: 'emulator',
    endpoint: undefined,
    region: undefined,
    emulatorJobSeconds: 20,
    emulatorConcurrency: 'region',
    emulatorConcurrencyError: 'ExceedsLimitException',
    upstreamTimeoutMs: 10_000,
    idempotencyMaxKeys: 10_000,
    pollIntervalMs: 1000,
    pollBackoffCapMs: 60_000,
    pollFailureLimitMs: 120_000,
    wsKeepAliveMs: 12_000,
    wsInitTimeoutMs: 3_000,
    subscriberQueue: 8,
    wsMaxBufferedBytes: 1_048_576,
    requestDeadlineMs: 10_000,
    shutdownDrainMs: 10_000,
    shutdownDelayMs: 0,
    startClockSkewMs: 10_000,
    startTimeoutMs: 15_000,
    pollShare: 0.2,
    inlineTracing: true,
    introspection: true,
    dashboard: true,
    ide: 'graphiql',
    startWithoutAws: false,
    routerSecret: undefined,
    metricsPort: 9464,
    metricsHost: '127.0.0.1',
    maxUpstreamCalls: 200,
    maxEntities: 100,
    bodyLimitBytes: 102_400,
    callbackUrlAllow: [],
    callbackConnections: 64,
    httpHeadersTimeoutMs: 10_000,
    httpRequestTimeoutMs: 30_000,
    httpKeepAliveTimeoutMs: 5_000,
    maxConnections: undefined,
    streamsPerClient: 20,
    maxConnectionsPerAddress: undefined,
    wsSubscriptionsPerSocket: 100,
    watchedJobsPerClient: 50,
    wsMessagesPerSecond: 100,
    trustProxy: undefined,
    finalJobCacheSize: 10_000,
    freshnessMs: 1000,
    ratePerSecond: 5,
    rateBurst: 1,
    rateMaxWaitMs: 5000,
    finalMaxAgeSeconds: 3600,
    responseCacheMb: 32,
    maxDepth: 12,
    maxVariablesDepth: 32,
    maxVariableValues: 10_000,
    maxAliases: 50,
    maxCost: 50_000,
    auth: {
      modes: [],
      jwt: { algorithms: ['RS256', 'ES256'], clockSkewSeconds: 30, groupsClaim: 'groups', jwksTimeoutMs: 5000, jwksGraceMs: 3_600_000 },
      apiKeysFile: undefined,
      apiKeys: undefined,
      policyFile: undefined,
    },
    allowedOrigins: undefined,
    allowedHosts: ['localhost', '127.0.0.1', '::1'],
    accountId: undefined,
    trustedDocuments: undefined,
    redisUrl: undefined,
    redisPrefix: 'er-gateway:',
    finalJobTtlSeconds: 604_800,
    redisCommandTimeoutMs: 1000,
    cursorKey: undefined,
    logLevel: 'info',
    logFormat: 'auto',
    tracing: undefined,
    metricsOperationNames: 100,
  });
});

test('ER_CURSOR_KEY takes 32 bytes in base64 (or base64url)', () => {
  const key = Buffer.alloc(32, 7);
  expect(loadConfig({ ER_CURSOR_KEY: key.toString('base64') }).cursorKey).toEqual(key);
  expect(loadConfig({ ER_CURSOR_KEY: key.toString('base64url') }).cursorKey).toEqual(key);
});

test('introspection is off by default in production; ER_TRUST_PROXY takes a hop count or addresses', () => {
  expect(loadConfig({ NODE_ENV: 'production', ER_BACKEND: 'emulator' }).introspection).toBe(false);
  expect(loadConfig({ NODE_ENV: 'production', ER_BACKEND: 'emulator', ER_INTROSPECTION: 'true' }).introspection).toBe(true);
  expect(loadConfig({ ER_TRUST_PROXY: '2' }).trustProxy).toBe(2);
  expect(loadConfig({ ER_TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toEqual(['loopback', '10.0.0.0/8']);
  expect(() => loadConfig({ ER_TRUST_PROXY: 'everyone' })).toThrow(/^ER_TRUST_PROXY: must be a hop count/);
  expect(() => loadConfig({ ER_HTTP_HEADERS_TIMEOUT_MS: '20000', ER_HTTP_REQUEST_TIMEOUT_MS: '10000' })).toThrow(
    /^ER_HTTP_REQUEST_TIMEOUT_MS/,
  );
  expect(() => loadConfig({ ER_ROUTER_SECRET: 'short' })).toThrow(/^ER_ROUTER_SECRET: must be at least 16/);
  expect(() => loadConfig({ ER_POLL_SHARE: '1' })).toThrow(/^ER_POLL_SHARE/);
  expect(() => loadConfig({ ER_RATE_PER_SECOND: '0.0000001' })).toThrow(/^ER_RATE_PER_SECOND: must be 0 \(off\) or at least 0.001/);
  expect(() => loadConfig({ ER_REDIS_COMMAND_TIMEOUT_MS: '0' })).toThrow(/^ER_REDIS_COMMAND_TIMEOUT_MS/);
  expect(() => loadConfig({ ER_START_TIMEOUT_MS: '10' })).toThrow(/^ER_START_TIMEOUT_MS/);
  // A renamed setting left in place would silently lift its limit: it stops start-up, naming the new one.
  expect(() => loadConfig({ ER_WS_SOCKETS_PER_CLIENT: '5' })).toThrow(/^ER_WS_SOCKETS_PER_CLIENT: renamed ER_STREAMS_PER_CLIENT/);
  expect(() => loadConfig({ ER_MAX_CONNECTIONS: '100', ER_MAX_CONNECTIONS_PER_ADDRESS: '101' })).toThrow(
    /^ER_MAX_CONNECTIONS_PER_ADDRESS: must be at most ER_MAX_CONNECTIONS/,
  );
});

test('the AWS backend takes a region and an endpoint override', () => {
  const config = loadConfig({
    ER_BACKEND: 'aws',
    ER_AUTH: 'none',
    AWS_REGION: 'eu-west-1',
    ER_ENDPOINT: 'https://entityresolution.eu-west-1.amazonaws.com',
  });
  expect(config).toMatchObject({ backend: 'aws', region: 'eu-west-1', endpoint: 'https://entityresolution.eu-west-1.amazonaws.com' });
});

test('the poll interval defaults to 5 s against AWS and 1 s with the emulator', () => {
  expect(loadConfig({ ER_BACKEND: 'aws', ER_AUTH: 'none' }).pollIntervalMs).toBe(5000);
  expect(loadConfig({ ER_POLL_INTERVAL_MS: '250' }).pollIntervalMs).toBe(250);
});

test('the IDE is GraphiQL by default outside production and off in production; ER_IDE takes graphiql, sandbox or off', () => {
  expect(loadConfig({}).ide).toBe('graphiql');
  expect(loadConfig({ NODE_ENV: 'production', ER_BACKEND: 'emulator' }).ide).toBe('off');
  expect(loadConfig({ NODE_ENV: 'production', ER_BACKEND: 'emulator', ER_IDE: 'graphiql' }).ide).toBe('graphiql');
  expect(loadConfig({ ER_IDE: 'sandbox' }).ide).toBe('sandbox');
  expect(refusal({ ER_IDE: 'graphql-playground' })).toMatch(/^ER_IDE: /);
});

test('the shutdown delay is 5 s in production, where a load balancer routes to the process, and 0 elsewhere; ER_SHUTDOWN_DELAY_MS sets it', () => {
  expect(loadConfig({ NODE_ENV: 'production', ER_BACKEND: 'emulator' }).shutdownDelayMs).toBe(5000);
  expect(loadConfig({ NODE_ENV: 'production', ER_BACKEND: 'emulator', ER_SHUTDOWN_DELAY_MS: '0' }).shutdownDelayMs).toBe(0);
  expect(loadConfig({ ER_SHUTDOWN_DELAY_MS: '1500' }).shutdownDelayMs).toBe(1500);
});

test('production must name its backend', () => {
  expect(refusal({ NODE_ENV: 'production' })).toMatch(/^ER_BACKEND: /);
  expect(loadConfig({ NODE_ENV: 'production', ER_BACKEND: 'aws', ER_AUTH: 'none' }).backend).toBe('aws');
});

test('AWS mode refuses to start without ER_AUTH; none must be said on purpose', () => {
  expect(refusal({ ER_BACKEND: 'aws' })).toMatch(/^ER_AUTH: must be set with ER_BACKEND=aws/);
  expect(loadConfig({ ER_BACKEND: 'aws', ER_AUTH: 'none' }).auth).toMatchObject({ modes: [] });
});

test('each auth mode needs what it checks credentials against, and a policy', () => {
  const policy = { ER_POLICY_FILE: 'policy.yaml' };
  expect(refusal({ ER_AUTH: 'jwt', ...policy })).toMatch(/^ER_JWT_JWKS_URL, ER_JWT_PUBLIC_KEY_FILE: /);
  expect(refusal({ ER_AUTH: 'jwt', ER_JWT_JWKS_URL: 'https://idp.example/jwks', ER_JWT_PUBLIC_KEY_FILE: 'key.pem', ...policy })).toMatch(
    /^ER_JWT_JWKS_URL/,
  );
  expect(refusal({ ER_AUTH: 'apikey', ...policy })).toMatch(/^ER_API_KEYS_FILE, ER_API_KEYS: /);
  expect(refusal({ ER_AUTH: 'apikey', ER_API_KEYS: 'ci:' + 'a'.repeat(64) })).toMatch(/^ER_POLICY_FILE: required/);
  const both = loadConfig({
    ER_AUTH: 'jwt,apikey',
    ER_JWT_JWKS_URL: 'https://idp.example/jwks',
    ER_API_KEYS: 'ci:' + 'a'.repeat(64),
    ...policy,
  });
  expect(both.auth).toMatchObject({ modes: ['jwt', 'apikey'], jwt: { jwksUrl: 'https://idp.example/jwks' }, policyFile: 'policy.yaml' });
});

test('a HOST of one address is added to the Host allow-list; ER_ALLOWED_HOSTS replaces it', () => {
  expect(loadConfig({ HOST: '10.0.0.5' }).allowedHosts).toEqual(['localhost', '127.0.0.1', '::1', '10.0.0.5']);
  expect(loadConfig({ HOST: '0.0.0.0' }).allowedHosts).toEqual(['localhost', '127.0.0.1', '::1']);
  expect(loadConfig({ ER_ALLOWED_HOSTS: 'er.example.com, localhost' }).allowedHosts).toEqual(['er.example.com', 'localhost']);
});

test.each([
  ['PORT', 'not-a-port'],
  ['PORT', '70000'],
  ['ER_BACKEND', 'dynamo'],
  ['ER_ENDPOINT', 'ftp://example'],
  ['AWS_REGION', 'mars'],
  ['ER_EMULATOR_JOB_SECONDS', '-1'],
  ['ER_UPSTREAM_TIMEOUT_MS', '5'],
  ['ER_IDEMPOTENCY_MAX_KEYS', '0'],
  ['ER_POLL_INTERVAL_MS', '10'],
  ['ER_POLL_FAILURE_LIMIT_MS', 'soon'],
  ['ER_WS_INIT_TIMEOUT_MS', '-3'],
  ['ER_INLINE_TRACING', 'yes'],
  ['ER_FRESHNESS_MS', '-1'],
  ['ER_RATE_PER_SECOND', 'fast'],
  ['ER_RATE_BURST', '0'],
  ['LOG_LEVEL', 'loud'],
  ['NODE_ENV', 'staging'],
  ['ER_AUTH', 'oauth'],
  ['ER_AUTH', 'none,jwt'],
  ['ER_AUTH', 'jwt,jwt'],
  ['ER_JWT_ALGORITHMS', 'HS256'],
  ['ER_JWT_JWKS_TIMEOUT_MS', '0'],
  ['ER_JWT_JWKS_GRACE_MS', '-1'],
  ['ER_MAX_VARIABLES_DEPTH', '0'],
  ['ER_MAX_VARIABLE_VALUES', 'many'],
  ['ER_ALLOWED_ORIGINS', 'https://app.example.com/'],
  ['ER_ALLOWED_ORIGINS', 'app.example.com'],
  ['ER_ALLOWED_HOSTS', 'er.example.com:443'],
  ['ER_ACCOUNT_ID', '1234'],
  ['ER_CURSOR_KEY', Buffer.alloc(16).toString('base64')],
  ['ER_CURSOR_KEY', 'not base64 at all!'],
])('a bad %s (%s) stops start-up with a message naming it', (name, value) => {
  expect(refusal({ ER_BACKEND: 'aws', [name]: value })).toMatch(new RegExp(`^${name}: `, 'm'));
});

test('an endpoint with the embedded emulator is refused, naming ER_ENDPOINT', () => {
  expect(refusal({ ER_ENDPOINT: 'http://127.0.0.1:4566' })).toMatch(/^ER_ENDPOINT: /);
});

test('an empty variable counts as unset', () => {
  expect(loadConfig({ PORT: '', ER_BACKEND: '' })).toMatchObject({ port: 4000, backend: 'emulator' });
});

describe('ER_REDIS_URL', () => {
  const aws = { ER_BACKEND: 'aws', ER_AUTH: 'none' };

  test('one server, Sentinel and Cluster, with ACL users, passwords percent-encoded, and TLS', () => {
    expect(parseRedisUrl('rediss://gateway:s%40cret@redis.internal:6380/2')).toEqual({
      kind: 'standalone',
      url: 'rediss://gateway:s%40cret@redis.internal:6380/2',
    });
    expect(parseRedisUrl('redis+sentinel://gateway:s%40cret@s1:26379,s2,[::1]:26380/my%20primary/3?sentinelPassword=p%26q')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'my primary',
      db: 3,
      tls: false,
      username: 'gateway',
      password: 's@cret',
      sentinelPassword: 'p&q',
    });
    expect(parseRedisUrl('rediss+cluster://:secret@node-1:6379,node-2:6379')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'node-1', port: 6379 },
        { host: 'node-2', port: 6379 },
      ],
      tls: true,
      password: 'secret',
    });
    expect(loadConfig({ ...aws, ER_REDIS_URL: 'redis+cluster://node-1:6379' }).redisUrl).toBe('redis+cluster://node-1:6379');
  });

  test('a URL the gateway cannot use stops start-up, saying what is wrong with it', () => {
    expect(refusal({ ...aws, ER_REDIS_URL: 'memcached://cache:11211' })).toMatch(/^ER_REDIS_URL: must start with redis:\/\//);
    expect(refusal({ ...aws, ER_REDIS_URL: 'redis+sentinel://s1:26379,s2:26379' })).toMatch(/^ER_REDIS_URL: needs the master name/);
    expect(refusal({ ...aws, ER_REDIS_URL: 'redis+cluster://n1:6379/1' })).toMatch(/^ER_REDIS_URL: names a database, but a Redis Cluster/);
    expect(refusal({ ...aws, ER_REDIS_URL: 'redis+sentinel://s1:99999/m' })).toMatch(/^ER_REDIS_URL: has a bad host:port "s1:99999"/);
    expect(refusal({ ...aws, ER_REDIS_URL: 'redis+cluster://n1?password=x' })).toMatch(/^ER_REDIS_URL: does not take password/);
  });

  test('with the embedded emulator it is refused: each replica would answer from an emulator of its own', () => {
    for (const backend of [{}, { ER_BACKEND: 'emulator' }] as Record<string, string>[]) {
      expect(refusal({ ...backend, ER_REDIS_URL: 'redis://redis:6379/0' })).toMatch(
        /^ER_REDIS_URL: replicas that share Redis must share one service.*`npm run emulator`.*ER_BACKEND=aws and ER_ENDPOINT=/,
      );
    }
  });
});

describe('tracing settings (the standard OTEL_* variables)', () => {
  test('tracing is off unless an endpoint is set, and off with OTEL_SDK_DISABLED', () => {
    expect(loadConfig({ OTEL_SERVICE_NAME: 'x' }).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).tracing).toBeUndefined();
  });

  test('an endpoint turns it on with the spec defaults; the signal endpoint is used as it is', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing).toEqual({
      endpoint: 'http://collector:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: {},
      serviceName: 'er-gateway',
      resourceAttributes: {},
      sampler: 'parentbased_always_on',
      remoteParent: 'follow',
      ratio: 1,
      exportDelayMs: 5000,
      maxExportBatchSize: 512,
      maxQueueSize: 2048,
      timeoutMs: 2000,
      document: false,
      resolvers: false,
    });
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector.example/traces',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=a%3Db, tenant=ops',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.1',
      }).tracing,
    ).toMatchObject({
      endpoint: 'https://collector.example/traces',
      protocol: 'http/json',
      headers: { 'x-api-key': 'a=b', tenant: 'ops' },
      resourceAttributes: { 'deployment.environment.name': 'prod' },
      ratio: 0.1,
    });
  });

  test("the batch span processor's standard variables are read; a batch larger than the queue is refused", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(loadConfig({ ...endpoint, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1024', OTEL_BSP_MAX_QUEUE_SIZE: '8192' }).tracing).toMatchObject({
      maxExportBatchSize: 1024,
      maxQueueSize: 8192,
    });
    expect(() => loadConfig({ ...endpoint, OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4096' })).toThrow(
      /OTEL_BSP_MAX_EXPORT_BATCH_SIZE: must be at most OTEL_BSP_MAX_QUEUE_SIZE/,
    );
  });

  test("a signal's own headers replace OTEL_EXPORTER_OTLP_HEADERS for that signal alone, as the OpenTelemetry spec has it", () => {
    const general = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=traces-key,tenant=ops' };
    expect(loadConfig(general).metricsExport?.headers).toEqual({ 'x-api-key': 'traces-key', tenant: 'ops' });
    const own = loadConfig({
      ...general,
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://metrics-collector:4318/v1/metrics',
      OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'authorization=Basic%20bWV0cmljcw%3D%3D',
    });
    expect(own.metricsExport?.headers).toEqual({ authorization: 'Basic bWV0cmljcw==' });
    expect(own.tracing?.headers).toEqual({ 'x-api-key': 'traces-key', tenant: 'ops' });
    const traces = loadConfig({ ...general, OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-api-key=other' });
    expect(traces.tracing?.headers).toEqual({ 'x-api-key': 'other' });
    expect(traces.metricsExport?.headers).toEqual({ 'x-api-key': 'traces-key', tenant: 'ops' });
    expect(() => loadConfig({ ...general, OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'bad' })).toThrow(
      /^OTEL_EXPORTER_OTLP_METRICS_HEADERS: "bad" is not name=value/,
    );
  });

  test('gRPC and malformed lists are refused, naming the variable', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      /^OTEL_EXPORTER_OTLP_PROTOCOL: the gateway exports OTLP over HTTP/,
    );
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_RESOURCE_ATTRIBUTES: 'no-equals' })).toThrow(
      /^OTEL_RESOURCE_ATTRIBUTES: "no-equals" is not name=value/,
    );
  });
});
