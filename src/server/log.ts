/** The most log output that may wait for a slow reader of stdout; past it, lines are dropped (and counted). @default 4 MiB */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;

/**
 * Where the gateway's log lines go: a pino destination on a stream (stdout)
 * that never holds the process up. Contract: `write` never blocks and never
 * throws. A line the stream cannot take is dropped and counted in `dropped`
 * (`er_gateway_log_lines_dropped_total`): every line once the stream has
 * failed (EPIPE: the reader of the pipe is gone), and each line while more
 * than `maxPendingBytes` wait for a reader that is slow or stopped. `flush`
 * waits for what is pending, at most `timeoutMs`, and never longer.
 *
 * Why not pino's own destination: it writes synchronously, and its exit
 * flush retries a write that fails with EPIPE for ever (sonic-boom's
 * `flushSync` sleeps and loops), so a gateway whose log reader had gone never
 * exited and ignored every later SIGTERM.
 */
export class LogOutput {
  private broken = false;
  private count = 0;

  constructor(
    private readonly stream: NodeJS.WritableStream & { writableLength: number } = process.stdout,
    private readonly maxPendingBytes = MAX_PENDING_BYTES,
  ) {
    stream.on('error', () => {
      this.broken = true;
    });
  }

  /** Log lines dropped so far. */
  get dropped(): number {
    return this.count;
  }

  write(line: string): void {
    if (this.broken || this.stream.writableLength > this.maxPendingBytes) {
      this.count++;
      return;
    }
    try {
      // A line pending when the stream fails gets the error in its callback: dropped.
      this.stream.write(line, (err) => {
        if (err) {
          this.broken = true;
          this.count++;
        }
      });
    } catch {
      // A stream on a file writes synchronously, and throws where a pipe would fail later.
      this.broken = true;
      this.count++;
    }
  }

  /** Resolves once nothing is pending, the stream has failed, or `timeoutMs` has passed. */
  flush(timeoutMs: number): Promise<void> {
    if (this.broken || this.stream.writableLength === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stream.removeListener('error', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      // Writes complete in order: the callback of an empty one comes once every line before it is out
      // ('drain' would come only after a write that filled the buffer).
      this.stream.write('', done);
      this.stream.once('error', done);
    });
  }
}

let stdout: LogOutput | undefined;

/** The process's stdout as a LogOutput: one per process, whoever asks. */
export function stdoutLog(): LogOutput {
  return (stdout ??= new LogOutput());
}
