import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import WebSocket, { type ClientOptions } from 'ws';

/**
 * Clients that call from a source address of the test's choosing (on Linux
 * the whole 127.0.0.0/8 is loopback), so that one machine can play several
 * clients as the gateway tells them apart by address. Each request has a
 * connection of its own (no keep-alive), so a test knows how many
 * connections each client holds.
 */

/** `fetch` from `localAddress`, streaming the response body as fetch does; enough for graphql-sse's client. */
export function fetchFrom(localAddress: string): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(String(input instanceof Request ? input.url : input));
    const headers = new Headers(init.headers);
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(url, { method: init.method ?? 'GET', headers: Object.fromEntries(headers), localAddress, agent: false }, resolve);
      req.once('error', reject);
      init.signal?.addEventListener('abort', () => req.destroy(new DOMException('aborted', 'AbortError')), { once: true });
      req.end(typeof init.body === 'string' ? init.body : undefined);
    });
    init.signal?.addEventListener('abort', () => response.destroy(), { once: true });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) responseHeaders.set(name, String(value));
    const body = response.statusCode === 204 ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>);
    return new Response(body, { status: response.statusCode, statusText: response.statusMessage, headers: responseHeaders });
  }) as typeof fetch;
}

/** A `ws` WebSocket whose connections leave from `localAddress`: graphql-ws's `webSocketImpl`. */
export function webSocketFrom(localAddress: string): typeof WebSocket {
  return class extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[], options: ClientOptions = {}) {
      super(address, protocols, { ...options, localAddress });
    }
  } as typeof WebSocket;
}

/** A TCP connection to `httpUrl`'s port that sends a request line and then one header line every 100 ms, never ending its headers, until it is closed. */
export async function slowHeaders(
  httpUrl: string,
  localAddress?: string,
): Promise<{ socket: Socket; closed: Promise<void>; isClosed(): boolean }> {
  const socket = connect({ port: Number(new URL(httpUrl).port), host: '127.0.0.1', localAddress });
  socket.on('error', () => {});
  let closed = false;
  const done = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void done.then(() => (closed = true));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const timer = setInterval(() => socket.writable && socket.write(`X-Slow-${Date.now()}: 1\r\n`), 100);
  socket.once('close', () => clearInterval(timer));
  return { socket, closed: done, isClosed: () => closed };
}
