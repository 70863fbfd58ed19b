import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { leftover } from './utils/leftovers';

/** util-linux's `script` gives the gateway a terminal for stdout, as a shell running `npm start` does. */
const SCRIPT = '/usr/bin/script';

/** The gateway's lines up to its ready line, with stdout a terminal. */
async function linesInTerminal(env: Record<string, string>): Promise<string[]> {
  const command = `${process.execPath} -r ts-node/register/transpile-only src/server/main.ts`;
  const child = spawn(SCRIPT, ['-qec', command, '/dev/null'], {
    cwd: resolve(__dirname, '..'),
    env: { PATH: process.env.PATH, PORT: '0', ER_METRICS_PORT: '0', NODE_NO_WARNINGS: '1', ER_DASHBOARD: 'false', ER_IDE: 'off', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
    // Its own process group: the stop reaches the gateway under script's shell.
    detached: true,
  });
  const exited = new Promise((done) => child.once('exit', done));
  leftover(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
  });
  const lines: string[] = [];
  await new Promise<void>((done, fail) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.includes('er-gateway ready at')) done();
    });
    void exited.then(() => fail(new Error(`the gateway exited before it was ready:\n${lines.join('\n')}`)));
  });
  return lines;
}

const inTerminal = existsSync(SCRIPT) ? test : test.skip;

describe('logs in a terminal', () => {
  inTerminal('npm start in a terminal prints readable lines (pino-pretty), not JSON', async () => {
    const lines = await linesInTerminal({});
    const ready = lines.find((line) => line.includes('er-gateway ready at'))!;
    expect(ready).toMatch(/INFO/);
    expect(() => JSON.parse(ready) as unknown).toThrow();
  });

  inTerminal('in production the lines stay JSON, terminal or not', async () => {
    const lines = await linesInTerminal({ NODE_ENV: 'production', ER_BACKEND: 'emulator' });
    const ready = lines.find((line) => line.includes('er-gateway ready at'))!;
    expect(JSON.parse(ready)).toMatchObject({ level: 30 });
  });
});
