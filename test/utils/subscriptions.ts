import type { FormattedExecutionResult } from 'graphql';
import { createClient as createSseClient, type Client as SseClient, type ClientOptions as SseClientOptions } from 'graphql-sse';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { leftover } from './leftovers';

/** One subscription as a frontend holds it: the events so far, and ways to wait for more. */
export class Subscription<T = Record<string, unknown>> {
  readonly events: FormattedExecutionResult<T, unknown>[] = [];
  completed = false;
  failure?: unknown;
  private waiters: (() => void)[] = [];
  readonly unsubscribe: () => void;

  constructor(client: Client, query: string, variables?: Record<string, unknown>) {
    this.unsubscribe = client.subscribe<T>(
      { query, variables },
      {
        next: (result) => this.record(() => this.events.push(result)),
        error: (err) => this.record(() => (this.failure = err)),
        complete: () => this.record(() => (this.completed = true)),
      },
    );
  }

  /** Waits until `count` events have arrived, and returns the last of them. */
  async event(count: number): Promise<FormattedExecutionResult<T, unknown>> {
    await this.until(() => this.events.length >= count || this.completed || this.failure !== undefined);
    if (this.events.length < count) throw new Error(`the subscription ended after ${this.events.length} events`);
    return this.events[count - 1];
  }

  /** Waits until the server completes the subscription (or it fails). */
  ended(): Promise<void> {
    return this.until(() => this.completed || this.failure !== undefined);
  }

  /** Waits until `condition` holds over the events so far, looking again at each event (or the end). */
  until(condition: () => boolean): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => (condition() ? resolve() : this.waiters.push(check));
      this.waiters.push(check);
    });
  }

  private record(change: () => unknown): void {
    change();
    const waiting = this.waiters;
    this.waiters = [];
    for (const check of waiting) check();
  }
}

/** A graphql-ws client over a real websocket, as frontends use it. */
export function wsClient(
  httpUrl: string,
  options: {
    retryAttempts?: number;
    connectionParams?: Record<string, unknown>;
    onClosed?: (event: { code: number; reason: string }) => void;
  } = {},
): Client {
  const client = createClient({
    url: `${httpUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: options.retryAttempts ?? 0,
    lazy: true,
    connectionParams: options.connectionParams,
    on: options.onClosed && { closed: (event) => options.onClosed!(event as { code: number; reason: string }) },
  });
  leftover(() => client.dispose());
  return client;
}

/** A graphql-sse client of the gateway at `httpUrl`'s event streams (`/graphql/stream`), disposed after the test. */
export function sseClient(httpUrl: string, options: Omit<SseClientOptions, 'url'> = {}): SseClient {
  const client = createSseClient({ url: `${httpUrl}/graphql/stream`, retryAttempts: 0, ...options });
  leftover(() => client.dispose());
  return client;
}

/**
 * A websocket speaking graphql-transport-ws by hand, for clients that
 * misbehave: it can stop reading (`pause`) so the server's output backs up,
 * as a stalled browser tab or a slow network does. Every message is kept, so
 * a wait for one never misses it; the socket is closed after the test.
 */
export class RawSocket {
  readonly messages: { id?: string; type: string; payload?: unknown }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly socket: WebSocket;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    socket.on('message', (data) => this.messages.push(JSON.parse(String(data)) as RawSocket['messages'][number]));
    leftover(() => this.close());
  }

  /**
   * Opens a socket to the gateway at `httpUrl` and completes connection_init
   * (unless `init` is false), with `payload` (credentials) if given, and the
   * upgrade request's `headers`; rejects if the upgrade is refused.
   */
  static async open(
    httpUrl: string,
    { init = true, payload, headers }: { init?: boolean; payload?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ): Promise<RawSocket> {
    const socket = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { headers });
    const raw = new RawSocket(socket);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    if (!init) return raw;
    raw.init(payload);
    await raw.message('connection_ack');
    return raw;
  }

  /** Sends connection_init with `payload` (credentials) if given. */
  init(payload?: Record<string, unknown>): void {
    this.socket.send(JSON.stringify({ type: 'connection_init', payload }));
  }

  /** Waits for the first message of `type` (for operation `id`, if given), however early it came; fails if the socket closes first. */
  async message(type: string, id?: string): Promise<RawSocket['messages'][number]> {
    const found = () => this.messages.find((m) => m.type === type && (id === undefined || m.id === id));
    await this.until(() => found() !== undefined);
    return found()!;
  }

  /** Calls `listener` at each websocket ping frame the server sends. */
  onPing(listener: () => void): void {
    this.socket.on('ping', listener);
  }

  /** Calls `listener` at each websocket pong frame the server sends (its answer to `ping`). */
  onPong(listener: () => void): void {
    this.socket.on('pong', listener);
  }

  /** Sends `data` as it is: a frame of any size or content. */
  send(data: string | Buffer): void {
    this.socket.send(data);
  }

  /** A websocket ping frame. */
  ping(): void {
    this.socket.ping();
  }

  subscribe(id: string, query: string, variables?: Record<string, unknown>): void {
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
  }

  /** The `next` payloads received for operation `id`. */
  results(id: string): { data?: Record<string, unknown>; errors?: unknown[] }[] {
    return this.messages.filter((m) => m.id === id && m.type === 'next').map((m) => m.payload as { data?: Record<string, unknown> });
  }

  /** Stops reading from the network: nothing more is taken in, pongs included. */
  pause(): void {
    (this.socket as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  resume(): void {
    (this.socket as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  /** Waits until `condition` holds over the messages received; fails if the socket closes first. */
  async until(condition: () => boolean): Promise<void> {
    let closed: { code: number; reason: string } | undefined;
    void this.closed.then((event) => (closed = event));
    while (!condition()) {
      if (closed) throw new Error(`the socket closed (${closed.code} ${closed.reason}) before the messages waited for`);
      await Promise.race([new Promise((resolve) => this.socket.once('message', resolve)), this.closed]);
    }
  }

  close(): void {
    this.socket.terminate();
  }
}
