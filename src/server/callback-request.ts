import type { StreamedOperation } from './operations';

/** The router's `extensions.subscription`, in the GA names or the preview's snake_case ones. */
export interface CallbackExtension {
  callbackUrl?: unknown;
  callback_url?: unknown;
  subscriptionId?: unknown;
  subscription_id?: unknown;
  verifier?: unknown;
  heartbeatIntervalMs?: unknown;
  heartbeat_interval_ms?: unknown;
}

/** What the router asked for, checked. */
export interface CallbackAsk {
  callbackUrl: string;
  subscriptionId: string;
  verifier: string;
  /** 0: no heartbeat. */
  heartbeatIntervalMs: number;
}

/** The heartbeat when the router names none, as Apollo Server's plugin has it. */
const DEFAULT_HEARTBEAT_MS = 5000;
/** The shortest heartbeat a router may ask for: each is a POST per subscription, and the router picks the interval. */
const MIN_HEARTBEAT_MS = 500;
/**
 * The longest: past 2^31-1 ms Node fires a timer after 1 ms, so a router asking for more would get a `check` storm; and
 * no router waits that long to learn that a subgraph has gone (Apollo Router's default is 5 s, Hive Gateway's 50 s).
 */
const MAX_HEARTBEAT_MS = 300_000;

/** The router's subscription extension, checked, or why it cannot be used. */
export function readExtension(extension: CallbackExtension): CallbackAsk | string {
  const callbackUrl = extension.callbackUrl ?? extension.callback_url;
  const subscriptionId = extension.subscriptionId ?? extension.subscription_id;
  const { verifier } = extension;
  const heartbeat = extension.heartbeatIntervalMs ?? extension.heartbeat_interval_ms ?? DEFAULT_HEARTBEAT_MS;
  if (typeof callbackUrl !== 'string' || typeof subscriptionId !== 'string' || typeof verifier !== 'string') {
    return 'extensions.subscription needs callbackUrl, subscriptionId and verifier, as strings (the HTTP callback protocol).';
  }
  if (
    typeof heartbeat !== 'number' ||
    !Number.isInteger(heartbeat) ||
    heartbeat < 0 ||
    (heartbeat > 0 && heartbeat < MIN_HEARTBEAT_MS) ||
    heartbeat > MAX_HEARTBEAT_MS
  ) {
    return `extensions.subscription.heartbeatIntervalMs must be a whole number of milliseconds from ${MIN_HEARTBEAT_MS} to ${MAX_HEARTBEAT_MS}, or 0 for none.`;
  }
  return { callbackUrl, subscriptionId, verifier, heartbeatIntervalMs: heartbeat };
}

/**
 * The operation of the router's request, or why its shape is wrong: `query` a string (absent when a trusted document is
 * named by hash), `variables` an object or null, `operationName` a string or null, `extensions` an object. graphql-ws and
 * graphql-sse check this for the other two transports; here nothing else would before graphql-js throws on it.
 */
export function readOperation(body: unknown): StreamedOperation | string {
  if (!isPlainObject(body)) return 'The request body must be a JSON object.';
  const { query, variables, operationName, extensions } = body;
  if (query !== undefined && typeof query !== 'string') return '`query` must be a string.';
  if (variables !== undefined && variables !== null && !isPlainObject(variables)) return '`variables` must be an object or null.';
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') {
    return '`operationName` must be a string or null.';
  }
  if (extensions !== undefined && !isPlainObject(extensions)) return '`extensions` must be an object.';
  return body as StreamedOperation;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
