import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { GraphQLFormattedError } from 'graphql';
import type { Scheduler } from '../watch/scheduler';

/** Where one callback subscription's messages go, and what proves they are ours (from the router's request). */
export interface CallbackTarget {
  url: URL;
  id: string;
  verifier: string;
}

/** A message of the callback protocol: `next` carries the result's JSON as serialized (a shared payload is serialized once). */
export type CallbackMessage =
  { action: 'check' } | { action: 'next'; payloadJson: string } | { action: 'complete'; errors?: readonly GraphQLFormattedError[] };

/**
 * How a message fared, from the answer's status alone (its body means
 * nothing to the protocol and is not waited for): `delivered` (2xx), `gone`
 * (404: the router ended the subscription), `refused` (any other answer that
 * is not worth a retry: a 3xx, which is never followed, or a 4xx),
 * `undeliverable` (network errors, timeouts and 5xx past the retries, or cut
 * short by `signal`).
 */
export type Delivery = 'delivered' | 'gone' | 'refused' | 'undeliverable';

/** How hard a message is tried. */
export interface RetryPolicy {
  /** Attempts in all, the first included. @default 5 */
  attempts: number;
  /** The wait before the second attempt; it doubles after each, up to `maxBackoffMs`. @default 100 */
  firstBackoffMs: number;
  /** @default 1000 */
  maxBackoffMs: number;
  /** No attempt starts past this many ms after the first, and none waits for an answer beyond it (on the scheduler's clock). */
  budgetMs: number;
}

/** The longest one attempt waits for an answer's status, whatever is left of the budget: also its connection's idle timeout. */
const ATTEMPT_TIMEOUT_MS = 10_000;

/** How hard every callback message is tried, but for its budget, which is the subscription's (its heartbeat interval). */
export const DEFAULT_RETRIES: Omit<RetryPolicy, 'budgetMs'> = { attempts: 5, firstBackoffMs: 100, maxBackoffMs: 1000 };

/** The header every message carries: the protocol's version. */
const PROTOCOL_HEADER = { 'subscription-protocol': 'callback/1.0' };

/** The message's body as the protocol spells it. */
function messageBody(target: CallbackTarget, message: CallbackMessage): string {
  const base = JSON.stringify({ kind: 'subscription', action: message.action, id: target.id, verifier: target.verifier });
  if (message.action === 'next') return `${base.slice(0, -1)},"payload":${message.payloadJson}}`;
  if (message.action === 'complete' && message.errors?.length) return `${base.slice(0, -1)},"errors":${JSON.stringify(message.errors)}}`;
  return base;
}

/**
 * POSTs `message` to the target, retrying a transient failure (a network
 * error, a timeout, a 5xx) with exponential backoff within `policy`: at most
 * `attempts` tries, none after `budgetMs`, and none waiting past it. An
 * attempt ends with the answer's status; its body is read and dropped
 * afterwards, so a router that drips it holds no message behind it.
 * Redirects are not followed: the URL was checked against the allow-list,
 * the one it points to was not (Node's http never follows them). The waits
 * between attempts and each attempt's deadline are `scheduler`'s; `signal`
 * cuts them short (at shutdown) and aborts the attempt in progress.
 */
export async function deliver(
  target: CallbackTarget,
  message: CallbackMessage,
  policy: RetryPolicy,
  connections: CallbackConnections,
  scheduler: Scheduler,
  signal: AbortSignal,
): Promise<Delivery> {
  const body = messageBody(target, message);
  const started = scheduler.now();
  let backoff = policy.firstBackoffMs;
  for (let attempt = 1; ; attempt++) {
    const left = policy.budgetMs - (scheduler.now() - started);
    if (signal.aborted || left <= 0) return 'undeliverable';
    const status = await post(target.url, body, connections, Math.ceil(Math.min(left, ATTEMPT_TIMEOUT_MS)), scheduler, signal);
    if (status !== undefined && status >= 200 && status < 300) return 'delivered';
    if (status === 404) return 'gone';
    if (status !== undefined && status < 500) return 'refused';
    if (attempt >= policy.attempts || scheduler.now() - started + backoff >= policy.budgetMs) return 'undeliverable';
    if (!(await wait(scheduler, backoff, signal))) return 'undeliverable';
    backoff = Math.min(backoff * 2, policy.maxBackoffMs);
  }
}

/**
 * Connections to routers, kept alive and pooled per origin: an event for a thousand subscriptions is a thousand POSTs to
 * a few routers, each on a connection of its own while it waits for its answer, so an origin is sent at most
 * `perOrigin` ÷ its answer time messages a second (ER_CALLBACK_CONNECTIONS). Node's http rather than fetch: with fetch's
 * per-request signals and streams, 1,000 subscriptions got two thirds of their events and a p99 of seconds
 * (docs/performance.md).
 */
export class CallbackConnections {
  private readonly agents: { 'http:': HttpAgent; 'https:': HttpsAgent };

  constructor(perOrigin: number) {
    this.agents = {
      'http:': new HttpAgent({ keepAlive: true, maxSockets: perOrigin }),
      'https:': new HttpsAgent({ keepAlive: true, maxSockets: perOrigin }),
    };
  }

  /** The pool for `url`'s scheme. */
  for(url: URL): HttpAgent {
    return this.agents[url.protocol as 'http:' | 'https:'];
  }

  /** Closes the idle connections (at shutdown, once no message is in flight). */
  destroy(): void {
    this.agents['http:'].destroy();
    this.agents['https:'].destroy();
  }
}

/**
 * The answer's status, or undefined when there was none (a network error, a timeout, an abort). `timeoutMs` is the
 * attempt's deadline on `scheduler`, whatever its connection does: a socket's idle timeout alone never ends an answer that
 * drips a byte at a time, which would hold its pooled connection, and every message behind it, for as long as it liked.
 */
function post(
  url: URL,
  body: string,
  connections: CallbackConnections,
  timeoutMs: number,
  scheduler: Scheduler,
  signal: AbortSignal,
): Promise<number | undefined> {
  return new Promise((resolve) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: 'POST',
      agent: connections.for(url),
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...PROTOCOL_HEADER },
      timeout: timeoutMs,
      signal,
    });
    // Past it the connection is cut, its body unread or not: it goes back to the pool only once the body has ended.
    const cancel = scheduler.after(timeoutMs, () => req.destroy());
    req.once('close', cancel);
    req.once('response', (res) => {
      resolve(res.statusCode);
      // Consumed for the connection to be reused; a body cut at the deadline is of no consequence, the status is in.
      res.on('error', () => undefined);
      res.resume();
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(undefined));
    req.end(body);
  });
}

/** True after `ms` on `scheduler`; false at once when `signal` aborts first. */
function wait(scheduler: Scheduler, ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const onAbort = () => {
      cancel();
      resolve(false);
    };
    const cancel = scheduler.after(ms, () => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
