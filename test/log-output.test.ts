import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { LogOutput } from '../src/server/log';
import { leftover } from './utils/leftovers';

/** A pipe whose reader (a `sleep` process) never reads: as a log collector that has stalled. */
function stalledPipe() {
  const reader = spawn('sleep', ['600'], { stdio: ['pipe', 'ignore', 'ignore'] });
  leftover(() => reader.exitCode === null && reader.signalCode === null && reader.kill('SIGKILL'));
  return reader;
}

test('a stdout whose reader has stalled never blocks a write: lines past the pending bound are dropped and counted, and flush gives up at its deadline', async () => {
  const reader = stalledPipe();
  const output = new LogOutput(reader.stdin!, 64 * 1024);
  const line = `${JSON.stringify({ msg: 'x'.repeat(1000) })}\n`;
  // Far more than the pipe's buffer and the bound together.
  for (let i = 0; i < 2000; i++) output.write(line);
  expect(output.dropped).toBeGreaterThan(1000);
  expect(reader.stdin!.writableLength).toBeLessThan(64 * 1024 + 2 * line.length);
  await output.flush(100);
});

test('once the reader has gone, every line is dropped and counted, pending ones included, and flush returns at once', async () => {
  const reader = stalledPipe();
  const output = new LogOutput(reader.stdin!, 64 * 1024);
  const line = `${JSON.stringify({ msg: 'x'.repeat(1000) })}\n`;
  for (let i = 0; i < 200; i++) output.write(line);
  const before = output.dropped;
  // The pipe fails (EPIPE) with its reader, and the lines waiting in it with it.
  const closed = new Promise((resolve) => reader.stdin!.once('close', resolve));
  reader.kill('SIGKILL');
  await once(reader, 'exit');
  output.write(line);
  await closed;
  expect(output.dropped).toBeGreaterThan(before + 1);
  const afterClose = output.dropped;
  output.write(line);
  expect(output.dropped).toBe(afterClose + 1);
  await output.flush(60_000);
});
