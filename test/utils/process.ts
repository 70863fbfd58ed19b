import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { leftover } from './leftovers';

/** A gateway run as `npm start` runs it (src/server/main.ts), in a process of its own. */
export interface GatewayProcess {
  child: ChildProcess;
  /** e.g. http://127.0.0.1:PORT */
  url: string;
  /** Where its /metrics listener is, e.g. http://127.0.0.1:PORT */
  metricsUrl: string;
  /** Its log lines so far, parsed. */
  lines: Record<string, unknown>[];
  /** Emits `line` at each log line, once it is in `lines`. */
  output: EventEmitter;
  /** Resolves with the exit code (or the signal's name) when it exits. */
  exited: Promise<number | string>;
}

/**
 * Starts src/server/main.ts with `env` (plus free ports) and waits until it is
 * ready; `command` runs something else from the repository's root instead
 * (e.g. the image's `node dist/server/main.js`).
 */
export async function startGatewayProcess(
  env: Record<string, string>,
  command = [process.execPath, '-r', 'ts-node/register/transpile-only', 'src/server/main.ts'],
): Promise<GatewayProcess> {
  const root = resolve(__dirname, '../..');
  const [program, ...args] = command;
  const child = spawn(program === 'node' ? process.execPath : program, args, {
    cwd: root,
    env: { PATH: process.env.PATH, PORT: '0', ER_METRICS_PORT: '0', NODE_NO_WARNINGS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const output = new EventEmitter();
  const exited = new Promise<number | string>((done) => child.once('exit', (code, signal) => done(code ?? signal ?? 'unknown')));
  // A process the test left running is killed after it (SIGCONT first, in case the test stopped it).
  leftover(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ready = new Promise<[string, string]>((done, fail) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        const match = /ready at (\S+)\/graphql \(metrics at (\S+)\/metrics\)/.exec(String(line.msg));
        if (match) done([match[1], match[2]]);
      } catch {
        lines.push({ msg: text });
      }
      output.emit('line');
    });
    void exited.then((code) => fail(new Error(`the gateway exited (${code}) before it was ready: ${stderr}`)));
  });
  const [url, metricsUrl] = await ready;
  return { child, url, metricsUrl, lines, output, exited };
}

/** Runs src/server/main.ts with `env` until it exits by itself: for start-ups that must fail, and say why. */
export async function runGatewayProcess(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/server/main.ts'], {
    cwd: resolve(__dirname, '../..'),
    env: { PATH: process.env.PATH, PORT: '0', ER_METRICS_PORT: '0', NODE_NO_WARNINGS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.once('exit', (exitCode) => done(exitCode)));
  return { code, stdout, stderr };
}
