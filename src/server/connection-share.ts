import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Counts } from './client-limits';

export interface ConnectionShareOptions {
  /** Connections one address may hold at once, of every kind: HTTP (slow ones included), websockets, SSE streams. */
  perAddress: number;
  /**
   * Addresses exempt from the share: a trusted proxy's. Behind a load
   * balancer every connection comes from it, and who is behind it is known
   * only from the headers, which a connection has not sent yet.
   * @default none
   */
  exempt?: (address: string) => boolean;
  logger: Logger;
  /** Told of each connection refused. */
  refused?: () => void;
}

/**
 * Keeps one address from holding more than its share of the server's
 * connections (`maxConnections`), whatever it does with them: slow headers,
 * idle keep-alive, websockets or event streams. At the connection only the
 * address is known, so the share is the address's; principals are held to
 * their stream budget later (ClientLimits). A connection past the share is
 * closed at once, as Node closes one past `maxConnections`: answering it
 * would mean reading its request, which is what a slow client withholds.
 * Returns the means to stop counting.
 */
export function shareConnections(server: Server, options: ConnectionShareOptions): { dispose(): void } {
  const held = new Counts<string>();
  const onConnection = (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined || options.exempt?.(address)) return;
    if (held.of(address) >= options.perAddress) {
      options.refused?.();
      options.logger.debug({ address, limit: options.perAddress }, 'connection refused: the address holds its share of connections');
      socket.destroy();
      return;
    }
    held.add(address);
    socket.once('close', () => held.remove(address));
  };
  // Before the HTTP server's own listener: a refused connection never reaches its parser.
  server.prependListener('connection', onConnection);
  return { dispose: () => void server.off('connection', onConnection) };
}
