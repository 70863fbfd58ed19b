import type { Writable } from 'node:stream';
import WebSocket from 'ws';
import { print } from 'graphql';
import { frame } from '../src/server/subscription-writer';
import { IdMappingJobUpdatedDocument, StartIdMappingJobDocument } from './generated/graphql';
import { ManualClock } from './utils/clock';
import { startTestGateway } from './utils/gateway';
import { ManualScheduler } from './utils/scheduler';
import { RawSocket } from './utils/subscriptions';
import { until } from './utils/wait';

const UPDATES = print(IdMappingJobUpdatedDocument);

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

test('next frames written on the connection interleave whole with ws pings, pongs and graphql-ws messages, for ids that JSON escapes', async () => {
  const clock = new ManualClock();
  const scheduler = new ManualScheduler();
  const t = await startTestGateway({ emulator: { clock: clock.read }, scheduler });
  const socket = await RawSocket.open(t.gateway.url);
  try {
    const { data } = await t.execute(StartIdMappingJobDocument, { input: { workflowName: 'customer-id-map' } });
    clock.advance(3000);
    const key = { workflowName: 'customer-id-map', jobId: data!.startIdMappingJob.jobId };
    // Ids come from the client: quotes, a backslash, a line break, U+2028, a lone surrogate, and characters of 2 to 4 bytes.
    const ids = ['a"b\\c\nd\u2028e\ud800', 'ü€😀', 'plain'];
    for (const id of ids) socket.subscribe(id, UPDATES, key);
    await socket.until(() => ids.every((id) => socket.results(id).length === 1));
    let pongs = 0;
    socket.onPong(() => pongs++);
    for (let i = 1; i <= 20; i++) {
      // Each poll's writes fall among the client's ws pings (ws answers them with pongs) and graphql-ws pings (pongs sent with ws.send).
      socket.ping();
      socket.send(JSON.stringify({ type: 'ping' }));
      clock.advance(5);
      await scheduler.runNext();
      socket.ping();
    }
    await socket.until(
      () => ids.every((id) => socket.results(id).length === 21) && socket.messages.filter((m) => m.type === 'pong').length === 20,
    );
    await until(() => pongs === 40);
    for (const id of ids) expect(socket.results(id).every((result) => result.data?.idMappingJobUpdated !== undefined)).toBe(true);
    expect(socket.messages.filter((m) => m.type === 'next' && !ids.includes(m.id!))).toEqual([]);
  } finally {
    socket.close();
    await t.close();
  }
});
