import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { PayloadWriter } from './direct-delivery';
import type { Writes } from './hand-over';

/** A `next` message's bytes before its payload, for subscription `id`. */
const nextHead = (id: string) => Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`);
const NEXT_TAIL = 0x7d; // }
const TEXT = { binary: false };
/** The first byte of a whole (FIN) text frame. */
const FIN_TEXT = 0x81;

/**
 * One subscription's writes of shared payloads: a `next` message per payload, built around the payload's bytes
 * (shared by every subscriber) without serializing anything per subscriber, and counted among the socket's writes.
 *
 * Each message goes out as one websocket frame in one Buffer, with one write on the socket's TCP connection
 * (`connection`, the upgrade's socket, which ws writes on too), rather than through `socket.send`, whose frame is
 * two buffers corked into one writev: in a fan-out, one write per subscriber per event is most of the gateway's
 * work, and a single buffer is the cheaper write. That is sound while ws would write the same bytes at once: a
 * server's frames are not masked, and ws queues nothing of its own without an extension (permessage-deflate, off on
 * our server). A socket that negotiated one is written through `send`.
 */
export class SubscriptionWriter implements PayloadWriter {
  private readonly head: Buffer;
  private readonly direct: boolean;
  private delivery?: { written(): void };

  constructor(
    private readonly socket: WebSocket,
    private readonly connection: Socket,
    id: string,
    private readonly writes: Writes,
    private readonly withinBuffer: (socket: WebSocket) => boolean,
  ) {
    this.head = nextHead(id);
    this.direct = socket.extensions === '';
  }

  write(json: Buffer, delivery: { written(): void }): void {
    const { socket, head } = this;
    // Past the buffer limit the socket is closed (the guard says why), and its close returns the subscription.
    if (socket.readyState !== socket.OPEN || !this.withinBuffer(socket)) return;
    this.delivery = delivery;
    this.writes.pending++;
    // A write that fails means the client is gone: its close event releases its operations.
    if (this.direct) return void this.connection.write(frame(head, json), this.afterWrite);
    const message = Buffer.allocUnsafe(head.length + json.length + 1);
    head.copy(message, 0);
    json.copy(message, head.length);
    message[message.length - 1] = NEXT_TAIL;
    socket.send(message, TEXT, this.afterWrite);
  }

  private readonly afterWrite = (): void => {
    if (--this.writes.pending === 0) this.writes.idle?.();
    this.delivery?.written();
  };
}

/** A whole, unmasked text frame (RFC 6455 5.2) of `head`, `json` and `}`. */
export function frame(head: Buffer, json: Buffer): Buffer {
  const length = head.length + json.length + 1;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const offset = 2 + lengthBytes;
  const bytes = Buffer.allocUnsafe(offset + length);
  bytes[0] = FIN_TEXT;
  if (lengthBytes === 0) {
    bytes[1] = length;
  } else if (lengthBytes === 2) {
    bytes[1] = 126;
    bytes.writeUInt16BE(length, 2);
  } else {
    bytes[1] = 127;
    bytes.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    bytes.writeUInt32BE(length >>> 0, 6);
  }
  head.copy(bytes, offset);
  json.copy(bytes, offset + head.length);
  bytes[bytes.length - 1] = NEXT_TAIL;
  return bytes;
}
