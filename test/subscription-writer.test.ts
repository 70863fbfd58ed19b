import type { Writable } from 'node:stream';
import WebSocket from 'ws';
import { frame } from '../src/server/subscription-writer';

/** ws's frame parser, which @types/ws does not name. */
const { Receiver } = WebSocket as unknown as {
  Receiver: new (options: { isServer: boolean; maxPayload: number }) => Writable;
};

/** What ws's own parser (a client's) reads from `bytes`: the text messages, in order. */
function received(bytes: Buffer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const messages: string[] = [];
    const receiver = new Receiver({ isServer: false, maxPayload: 0 });
    receiver.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) reject(new Error('a binary frame'));
      messages.push(String(data));
    });
    receiver.on('error', reject);
    receiver.write(bytes, () => resolve(messages));
  });
}

const head = Buffer.from('{"id":"a1","type":"next","payload":');
/** A payload that makes the message `length` bytes long. */
const payloadOf = (length: number) => Buffer.from(JSON.stringify({ data: { text: 'x'.repeat(length - head.length - 21) } }));

test.each([
  ['125 bytes (a 7-bit length)', 125, 125],
  ['126 bytes (a 16-bit length)', 126, 126],
  ['65,535 bytes (the largest 16-bit length)', 65535, 126],
  ['65,536 bytes (a 64-bit length)', 65536, 127],
])('a next message of %s is one unmasked text frame that ws reads as the whole message', async (_name, length, lengthCode) => {
  const json = payloadOf(length);
  const bytes = frame(head, json);
  expect(bytes[0]).toBe(0x81);
  expect(bytes[1]).toBe(lengthCode);
  const messages = await received(bytes);
  expect(messages).toEqual([`${String(head)}${String(json)}}`]);
});
