import type { FormattedExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

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

  private until(condition: () => boolean): Promise<void> {
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
export function wsClient(httpUrl: string, options: { retryAttempts?: number } = {}): Client {
  return createClient({
    url: `${httpUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: options.retryAttempts ?? 0,
    lazy: true,
  });
}
