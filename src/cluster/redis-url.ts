/** A host and port of a Redis node or sentinel. */
export interface RedisNode {
  host: string;
  port: number;
}

/** The credentials a URL carries (ACL user and password, or a password alone for `requirepass`). */
interface Credentials {
  username?: string;
  password?: string;
}

/**
 * Where the shared Redis is, read from `ER_REDIS_URL`:
 * - `redis://` / `rediss://`: one server (ioredis reads the URL itself);
 * - `redis+sentinel://` / `rediss+sentinel://`: the primary that Sentinel names, followed across failovers;
 * - `redis+cluster://` / `rediss+cluster://`: a Redis Cluster, from a few seed nodes.
 * `rediss` means TLS to every node (and, with Sentinel, to the sentinels too).
 */
export type RedisTopology =
  | { kind: 'standalone'; url: string }
  | ({
      kind: 'sentinel';
      sentinels: RedisNode[];
      /** The name the sentinels monitor the primary under. */
      name: string;
      db: number;
      tls: boolean;
      sentinelUsername?: string;
      sentinelPassword?: string;
    } & Credentials)
  | ({ kind: 'cluster'; nodes: RedisNode[]; tls: boolean } & Credentials);

/** Thrown for a URL that names no Redis the gateway can use; the message says what is wrong. */
export class RedisUrlError extends Error {}

const SCHEME = /^(rediss?)(?:\+(sentinel|cluster))?:\/\/(.*)$/s;
const DEFAULT_PORTS = { standalone: 6379, sentinel: 26379, cluster: 6379 };

/**
 * Reads `ER_REDIS_URL`. Sentinel:
 * `redis+sentinel://[user:password@]host:port,host:port/<master name>[/<db>][?sentinelUsername=…&sentinelPassword=…]`
 * (user and password are the primary's; sentinels default to port 26379).
 * Cluster: `redis+cluster://[user:password@]host:port,host:port` (seed nodes; any
 * few of the cluster's). User names and passwords are percent-encoded, as in
 * any URL.
 */
export function parseRedisUrl(text: string): RedisTopology {
  const match = SCHEME.exec(text);
  if (!match)
    throw new RedisUrlError(
      'must start with redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or rediss+cluster://',
    );
  const [, scheme, mode, rest] = match;
  const tls = scheme === 'rediss';
  if (!mode) {
    try {
      new URL(text);
    } catch {
      throw new RedisUrlError('is not a URL (one host; Sentinel and Cluster take redis+sentinel:// and redis+cluster://)');
    }
    return { kind: 'standalone', url: text };
  }
  const kind = mode as 'sentinel' | 'cluster';
  // The user info first, by the last `@`: a password with an unencoded `/` or `?` must not be taken for a path
  // or a query, nor be quoted in an error about the nodes.
  const at = rest.lastIndexOf('@');
  const credentials = at < 0 ? {} : userInfo(rest.slice(0, at));
  const [beforeQuery, query = ''] = splitOnce(rest.slice(at + 1), '?');
  const [authority, path = ''] = splitOnce(beforeQuery, '/');
  const nodes = authority.split(',').map((node) => hostPort(node, DEFAULT_PORTS[kind]));
  const params = queryParams(query);
  const known = kind === 'sentinel' ? ['sentinelUsername', 'sentinelPassword'] : [];
  const unknown = [...params.keys()].filter((key) => !known.includes(key));
  if (unknown.length > 0)
    throw new RedisUrlError(`does not take ${unknown.join(', ')}${known.length ? ` (only ${known.join(', ')})` : ''}`);
  const segments = path.split('/').filter((segment) => segment !== '');
  if (kind === 'cluster') {
    if (segments.length > 1 || (segments.length === 1 && segments[0] !== '0')) {
      throw new RedisUrlError('names a database, but a Redis Cluster has only database 0');
    }
    return { kind, nodes, tls, ...credentials };
  }
  if (segments.length === 0)
    throw new RedisUrlError('needs the master name Sentinel monitors, e.g. redis+sentinel://sentinel-1:26379,sentinel-2:26379/mymaster');
  if (segments.length > 2 || (segments[1] !== undefined && !/^\d{1,2}$/.test(segments[1]))) {
    throw new RedisUrlError('takes the master name and at most a database number after it, e.g. /mymaster/0');
  }
  return {
    kind,
    sentinels: nodes,
    name: decode(segments[0]),
    db: Number(segments[1] ?? 0),
    tls,
    ...credentials,
    ...(params.has('sentinelUsername') ? { sentinelUsername: params.get('sentinelUsername')! } : {}),
    ...(params.has('sentinelPassword') ? { sentinelPassword: params.get('sentinelPassword')! } : {}),
  };
}

/** What a log line or an error may say of a topology: where, never a password. */
export function describeTopology(topology: RedisTopology): string {
  if (topology.kind === 'standalone') {
    const url = new URL(topology.url);
    return `${url.protocol}//${url.host}`;
  }
  const nodes = (topology.kind === 'sentinel' ? topology.sentinels : topology.nodes).map((n) => `${n.host}:${n.port}`).join(',');
  return topology.kind === 'sentinel'
    ? `primary "${topology.name}" via sentinels ${nodes}${topology.tls ? ' (TLS)' : ''}`
    : `cluster via ${nodes}${topology.tls ? ' (TLS)' : ''}`;
}

function splitOnce(text: string, separator: string): [string, string?] {
  const at = text.indexOf(separator);
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + 1)];
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new RedisUrlError('has a bad percent-encoding');
  }
}

/** A URL's query, its values percent-decoded as a URL's user info is (a `+` stays a `+`, as base64 passwords have them). */
function queryParams(query: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const pair of query.split('&').filter((part) => part !== '')) {
    const [key, value = ''] = splitOnce(pair, '=');
    params.set(decode(key), decode(value));
  }
  return params;
}

function userInfo(text: string): Credentials {
  const [user, password] = splitOnce(text, ':');
  return {
    ...(user !== '' ? { username: decode(user) } : {}),
    ...(password !== undefined ? { password: decode(password) } : {}),
  };
}

function hostPort(text: string, defaultPort: number): RedisNode {
  // [::1]:6379 for IPv6, host:port otherwise (`_` as compose service names have it).
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(text);
  const port = Number(match?.[3] ?? defaultPort);
  if (!match || port < 1 || port > 65535) throw new RedisUrlError(`has a bad host:port "${text}" in its list of nodes`);
  return { host: match[1] ?? match[2], port };
}
