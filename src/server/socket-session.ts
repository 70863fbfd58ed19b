import { CloseCode } from 'graphql-ws';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { WatchQuota } from '../watch/job-watcher';
import { LocalBudget } from '../upstream/rate-governor';
import type { Caller } from './client-limits';
import type { Writes } from './hand-over';
import type { DropReason } from './socket-guard';

/** A client past a limit of its own (too many messages): policy violation. */
const POLICY_VIOLATION = 1008;

export interface SessionSettings {
  /** A socket that sends no connection_init within this time is closed (4408); 0 waits for ever. */
  initTimeoutMs: number;
  /** Messages (pings included) a socket may send per second, with bursts of twice as many; past it the socket is closed with 1008. */
  messagesPerSecond: number;
  /** The clock of the message rate. @default steadyScheduler's */
  now?: () => number;
  logger: Logger;
  onDrop?: (reason: DropReason) => void;
}

/**
 * One websocket's state, in one object: graphql-ws's socket (protocol, send,
 * close, onMessage) and the `extra` our hooks read (who it is, its
 * operations, its quota), its writes in progress (for the hand-over at
 * shutdown), its message rate, and what its close releases. Its listeners
 * are the server's, shared by every socket (`socketListeners`): a socket
 * costs no closure of its own, which matters for thousands of subscribers.
 */
export class SocketSession implements Writes {
  pending = 0;
  idle?: () => void;
  /** Who the socket is, once `connection_init` said so, and the quota of its subscriptions. */
  caller?: Caller;
  quota?: WatchQuota;
  /** The ends of the socket's operations, by id: aborted when the client completes one or the socket closes. */
  readonly operations = new OperationEnds();
  /** Cancels the socket's close when its token expires. */
  cancelExpiry?: () => void;
  /** Gives back the socket's place among its client's streams. */
  releaseStream?: () => void;
  private handle?: (data: string) => Promise<void>;
  private closed?: (code: number, reason: string) => Promise<void>;
  private readonly messages: LocalBudget;
  private failedAlready = false;
  /** Ours rather than graphql-ws's, so that it is gone once `connection_init` came (graphql-ws keeps its timer for the socket's life). */
  private initTimer?: NodeJS.Timeout;

  constructor(
    readonly socket: WebSocket,
    /** The socket's TCP (or TLS) connection, which ws writes its frames on: the upgrade request's socket. */
    readonly connection: Socket,
    /** The address the socket's client calls from (behind trusted proxies, the forwarded one). */
    readonly address: string,
    /** Of the upgrade request, the headers its operations' trace context may travel in: the request itself is not kept. */
    readonly traceHeaders: Record<string, string | string[]> | undefined,
    /** Gives back the socket's count among its address's sockets not yet initialised: at `connection_init`, or at close. */
    readonly releaseUnnamed: (() => void) | undefined,
    private readonly settings: SessionSettings,
  ) {
    this.messages = new LocalBudget(settings.messagesPerSecond, settings.messagesPerSecond * 2, settings.now);
    if (settings.initTimeoutMs > 0 && Number.isFinite(settings.initTimeoutMs)) {
      this.initTimer = setTimeout(() => {
        this.initTimer = undefined;
        socket.close(CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout');
      }, settings.initTimeoutMs);
    }
  }

  /** `connection_init` came: the socket may stay past the init timeout. */
  initialised(): void {
    clearTimeout(this.initTimer);
    this.initTimer = undefined;
    this.releaseUnnamed?.();
  }

  /** graphql-ws's hand-over: what it runs on each message, and what to tell at close. */
  open(opened: (session: SocketSession) => (code: number, reason: string) => Promise<void>): void {
    this.closed = opened(this);
  }

  get protocol(): string {
    return this.socket.protocol;
  }

  send(message: string): Promise<void> {
    return new Promise<void>((resolve) => {
      const { socket } = this;
      if (socket.readyState !== socket.OPEN) return resolve();
      this.pending++;
      // A write that fails means the client is gone: its close event releases its operations.
      socket.send(message, () => {
        if (--this.pending === 0) this.idle?.();
        resolve();
      });
    });
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  onMessage(handle: (data: string) => Promise<void>): void {
    this.handle = handle;
  }

  received(data: RawData): void {
    if (!this.withinRate() || !this.handle) return;
    const text = String(data);
    // graphql-ws answers a malformed message itself (4400), from its text.
    let message: unknown = text;
    try {
      const parsed: unknown = JSON.parse(text);
      // graphql-ws parses a string it is handed: a JSON string's content would be parsed a second time, and a message
      // in it taken. It gets the text instead, whose parse (a string, not an object) it refuses.
      if (typeof parsed !== 'string') message = parsed;
    } catch {
      // not JSON: the text goes to graphql-ws
    }
    // graphql-ws forgets a subscription completed before its setup resolved; its end must still reach the watcher.
    this.completed(message);
    // The message parsed, not its text: graphql-ws's handler of a subscribe message lasts as long as the subscription,
    // and would hold the text (half a kilobyte a subscriber) beside the message it parses from it. graphql-ws takes
    // either (its parseMessage parses strings only); we set no reviver of its.
    this.handle(message as string).catch((err: unknown) => {
      this.settings.logger.error({ err }, 'websocket message handling failed');
      this.socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
  }

  pinged(data: Buffer): void {
    if (this.withinRate()) this.socket.pong(data);
  }

  failed(err: Error): void {
    if (this.failedAlready) return;
    this.failedAlready = true;
    this.settings.logger.info({ err }, 'websocket client dropped after a socket error');
    // ws has sent the close frame (1009 for a message too large); a client that never answers it is cut.
    const socket = this.socket;
    setTimeout(() => socket.terminate(), 1000).unref();
  }

  ended(code: number, reason: Buffer): void {
    this.initialised();
    this.cancelExpiry?.();
    this.releaseStream?.();
    this.operations.abortAll();
    void this.closed?.(code, String(reason));
  }

  /** A message within the socket's rate; past it, the socket is closed and false returned. */
  private withinRate(): boolean {
    if (this.messages.take() === 0) return true;
    const { socket } = this;
    if (socket.readyState === socket.OPEN) {
      this.settings.logger.info({ limit: this.settings.messagesPerSecond }, 'websocket client dropped: too many messages');
      this.settings.onDrop?.('message_rate');
      socket.close(POLICY_VIOLATION, 'Too many messages');
    }
    return false;
  }

  /** Aborts the operation a client's `complete` message names. */
  private completed(message: unknown): void {
    if (typeof message !== 'object' || message === null) return;
    const { type, id } = message as { type?: unknown; id?: unknown };
    if (type !== 'complete' || typeof id !== 'string') return;
    this.operations.abort(id);
  }
}

/**
 * A socket's operations' ends, by id. Most sockets hold one operation (a browser tab's subscription): it is kept in two
 * fields, and a Map (a few hundred bytes with its table) is made only for a second one.
 */
export class OperationEnds {
  private id?: string;
  private end?: AbortController;
  private more?: Map<string, AbortController>;

  set(id: string, end: AbortController): void {
    // An id already among the others stays there: in the first fields too, it would be there twice.
    if (this.id === id || (this.id === undefined && !this.more?.has(id))) {
      this.id = id;
      this.end = end;
    } else {
      (this.more ??= new Map()).set(id, end);
    }
  }

  delete(id: string): void {
    if (this.id === id) {
      this.id = undefined;
      this.end = undefined;
    } else {
      this.more?.delete(id);
    }
  }

  /** Aborts the operation `id` and forgets it. */
  abort(id: string): void {
    (this.id === id ? this.end : this.more?.get(id))?.abort();
    this.delete(id);
  }

  /** Aborts every operation and forgets them. */
  abortAll(): void {
    const { end, more } = this;
    this.id = undefined;
    this.end = undefined;
    this.more = undefined;
    end?.abort();
    for (const other of more?.values() ?? []) other.abort();
  }
}

/** Each socket's session: sockets are distinct objects, so one map serves every server. */
const sessions = new WeakMap<WebSocket, SocketSession>();

/** The session of `socket`, once `listenTo` has wired it. */
export function sessionOf(socket: WebSocket): SocketSession | undefined {
  return sessions.get(socket);
}

/**
 * Wires `socket`'s events to `session` with listeners shared by every socket (each finds its session from `this`,
 * the socket). `on`, not `once`: ws emits `close` once, and the session ignores a second `error`.
 */
export function listenTo(socket: WebSocket, session: SocketSession): void {
  sessions.set(socket, session);
  socket.on('message', onMessage);
  socket.on('ping', onPing);
  socket.on('error', onError);
  socket.on('close', onClose);
}

function onMessage(this: WebSocket, data: RawData): void {
  sessions.get(this)?.received(data);
}

function onPing(this: WebSocket, data: Buffer): void {
  sessions.get(this)?.pinged(data);
}

function onError(this: WebSocket, err: Error): void {
  sessions.get(this)?.failed(err);
}

function onClose(this: WebSocket, code: number, reason: Buffer): void {
  sessions.get(this)?.ended(code, reason);
}
