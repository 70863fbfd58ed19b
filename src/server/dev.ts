import { spawn, type ChildProcess } from 'node:child_process';
import { watch } from 'node:fs';
import { resolve } from 'node:path';

/**
 * `npm run dev`: after one `npm run build`, keeps the build current and the
 * gateway on it. `tsc -b src -w` recompiles what changed into dist/; a change
 * under src/dashboard runs `npm run dashboard` again (whatever that script
 * bundles); the gateway restarts once each of them has finished (not once per
 * file written), and only if the compiler found no error, so a typo keeps the
 * last good gateway serving. Settings come from the environment as with
 * `npm start`. Ctrl-C stops everything.
 */
const root = resolve(__dirname, '..', '..');
const children = new Set<ChildProcess>();
let stopping = false;

function run(command: string, args: string[], stdout: 'inherit' | 'pipe' = 'inherit'): ChildProcess {
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', stdout, 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

let gateway: ChildProcess | undefined;
let restarting: Promise<void> | undefined;
function startGateway(): void {
  const child = run(process.execPath, ['dist/server/main.js']);
  gateway = child;
  child.once('exit', (code, signal) => {
    if (gateway === child) gateway = undefined;
    // child.killed: we stopped it, to restart it or to stop.
    if (!stopping && !child.killed)
      process.stderr.write(`dev: the gateway exited (${code ?? signal}); it starts again on the next change\n`);
  });
}
function restartGateway(): void {
  // Builds that finish while one restart waits for the old gateway's drain share that restart.
  restarting ??= (async () => {
    const old = gateway;
    if (old && old.exitCode === null && old.signalCode === null) {
      const exited = new Promise((done) => old.once('exit', done));
      old.kill('SIGTERM');
      await exited;
    }
    restarting = undefined;
    if (!stopping) startGateway();
  })();
}

// tsc -w ends each build with "Found N errors. Watching for file changes."; the first is the build npm run build already made.
let builds = 0;
const compiler = run(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'src', '-w', '--preserveWatchOutput'], 'pipe');
compiler.stdout!.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  for (const [, errors] of chunk.toString().matchAll(/Found (\d+) errors?\. Watching for file changes/g)) {
    if (builds++ > 0 && errors === '0') restartGateway();
  }
});

// Editors save in bursts (a temporary file, a rename): one bundle for the burst, and never two at once.
let bundling: ChildProcess | undefined;
let again = false;
let pending: NodeJS.Timeout | undefined;
function bundle(): void {
  if (bundling) {
    again = true;
    return;
  }
  bundling = run('npm', ['run', '--silent', 'dashboard']);
  bundling.once('exit', (code) => {
    bundling = undefined;
    if (again) {
      again = false;
      bundle();
    } else if (code === 0) {
      restartGateway();
    }
  });
}
const pages = watch(resolve(root, 'src', 'dashboard'), { recursive: true }, () => {
  clearTimeout(pending);
  pending = setTimeout(bundle, 100);
});

startGateway();

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopping = true;
    pages.close();
    clearTimeout(pending);
    for (const child of children) child.kill('SIGTERM');
  });
}
