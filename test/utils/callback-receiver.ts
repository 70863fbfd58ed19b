import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { leftover } from './leftovers';

/** One message a subgraph POSTed to the receiver, as the callback protocol spells it. */
export interface CallbackMessage {
  kind: string;
  action: 'check' | 'next' | 'complete';
  id: string;
  verifier: string;
  payload?: { data?: Record<string, unknown> | null; errors?: unknown[] };
  errors?: { message: string; extensions?: Record<string, unknown> }[];
  headers: IncomingHttpHeaders;
  /** `performance.now()` when it arrived. */
  at: number;
}

/** How the receiver answers a message: with a status, or by handing the response to the test (an answer that drips, say). */
export type Answer = number | ((res: ServerResponse) => void);

/**
 * A router's callback endpoint held by the test: a plain HTTP server that
 * records every POST (`received`, emitted as `message`) and answers what
 * `answer` says (204 by default, as a router does, or as the test writes it); `attempts` counts every
 * request, whatever its body. `down()` closes it, so further messages meet a
 * refused connection, as with a router that has gone.
 */
export class CallbackReceiver extends EventEmitter {
  readonly received: CallbackMessage[] = [];
  attempts = 0;
  answer: (message: CallbackMessage) => Answer | Promise<Answer> = () => 204;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {
    super();
  }

  static async start(host = '127.0.0.1'): Promise<CallbackReceiver> {
    const server = createServer();
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    const receiver = new CallbackReceiver(server, `http://${host}:${(server.address() as AddressInfo).port}`);
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- each request is answered here, errors included
    server.on('request', async (req, res) => {
      receiver.attempts++;
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      let message: CallbackMessage;
      try {
        message = {
          ...(JSON.parse(Buffer.concat(chunks).toString('utf8')) as CallbackMessage),
          headers: req.headers,
          at: performance.now(),
        };
      } catch {
        res.writeHead(400).end();
        return;
      }
      const answer = await receiver.answer(message);
      receiver.received.push(message);
      if (typeof answer === 'number') res.writeHead(answer, { 'subscription-protocol': 'callback/1.0' }).end();
      else answer(res);
      receiver.emit('message', message);
    });
    leftover(() => receiver.close());
    return receiver;
  }

  /** The callback URL of subscription `id`. */
  urlOf(id: string): string {
    return `${this.url}/callback/${id}`;
  }

  /** The messages of subscription `id`, in order. */
  of(id: string): CallbackMessage[] {
    return this.received.filter((message) => message.id === id);
  }

  /** The actions of subscription `id`'s messages, in order. */
  actions(id: string): string[] {
    return this.of(id).map((message) => message.action);
  }

  /** Stops listening and drops its connections: the next message meets a refused connection. */
  down(): Promise<void> {
    return this.close();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
