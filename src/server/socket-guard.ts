import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import { steadyScheduler, type Scheduler } from '../watch/scheduler';

/** Why the gateway closed a client's socket. */
export type DropReason = 'keepalive' | 'slow_consumer' | 'message_rate';

/** The close code for a client whose unsent output passed the limit: "try again later"; graphql-ws clients reconnect. */
export const SLOW_CONSUMER_CLOSE_CODE = 1013;

export interface SocketGuardOptions {
  /** Ping interval; a socket that has not answered the last ping by the next one is dropped. 0 turns pings off. */
  keepAliveMs: number;
  /** A socket whose unsent output passes this many bytes is closed with 1013. */
  maxBufferedBytes: number;
  logger: Logger;
  /** Told of each socket dropped. */
  onDrop?: (reason: DropReason) => void;
  /** How often sockets are checked. @default 1000 */
  sweepMs?: number;
  /** The time of sweeps and of a slow consumer's grace to read its close frame: tests drive it by hand. @default steadyScheduler */
  scheduler?: Scheduler;
}

interface Liveness {
  pingedAt?: number;
  answered: boolean;
}

/**
 * Keeps every socket of `wsServer` honest with one timer for all of them:
 * it pings each socket every `keepAliveMs` and drops one that has not
 * answered the previous ping, and it closes a socket whose outbound buffer
 * passes `maxBufferedBytes` (a client that reads too slowly or not at all),
 * so no client can make the gateway hold an unbounded backlog for it.
 * `check(socket)` applies the buffer limit at once, before a send.
 * Each drop is one info line saying why.
 */
export function guardSockets(
  wsServer: WebSocketServer,
  options: SocketGuardOptions,
): { check(socket: WebSocket): boolean; dispose(): void } {
  const { logger, keepAliveMs, maxBufferedBytes } = options;
  const scheduler = options.scheduler ?? steadyScheduler;
  const liveness = new WeakMap<WebSocket, Liveness>();

  const drop = (socket: WebSocket, reason: DropReason, detail: Record<string, unknown>) => {
    if (socket.readyState !== socket.OPEN) return;
    logger.info({ reason, ...detail }, 'websocket client dropped');
    options.onDrop?.(reason);
    if (reason === 'slow_consumer') {
      socket.close(SLOW_CONSUMER_CLOSE_CODE, 'Slow consumer: too much unsent output');
      // A client that reads nothing would never read the close frame either.
      scheduler.after(1000, () => socket.terminate());
    } else {
      socket.terminate();
    }
  };

  const check = (socket: WebSocket): boolean => {
    if (socket.bufferedAmount <= maxBufferedBytes) return true;
    drop(socket, 'slow_consumer', { bufferedBytes: socket.bufferedAmount, limitBytes: maxBufferedBytes });
    return false;
  };

  // One pong listener for every socket (`this` is the socket): thousands of sockets cost no closure each.
  function answered(this: WebSocket): void {
    const state = liveness.get(this);
    if (state) state.answered = true;
  }
  wsServer.on('connection', (socket) => {
    liveness.set(socket, { answered: true });
    socket.on('pong', answered);
  });

  const sweepMs = Math.min(options.sweepMs ?? 1000, keepAliveMs > 0 ? keepAliveMs : Infinity);
  const sweep = () => {
    const now = scheduler.now();
    for (const socket of wsServer.clients) {
      if (!check(socket) || keepAliveMs <= 0) continue;
      const state = liveness.get(socket);
      if (!state || (state.pingedAt !== undefined && now - state.pingedAt < keepAliveMs)) continue;
      if (!state.answered) {
        drop(socket, 'keepalive', { keepAliveMs, message: 'no answer to the last ping' });
        continue;
      }
      state.answered = false;
      state.pingedAt = now;
      socket.ping();
    }
  };
  // One timer for all sockets, armed again after each sweep.
  let cancel = (): void => undefined;
  const arm = (): void => {
    cancel = scheduler.after(sweepMs, () => {
      sweep();
      arm();
    });
  };
  arm();

  return { check, dispose: () => cancel() };
}
