import { fork, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import type { FromClients, ToClients, Transport, WatchedJob } from './fanout-clients';
import { now } from './bench-gateway';

/** One process of subscribers (fanout-clients.ts). */
class ClientProcess {
  private readonly child: ChildProcess;
  private readonly inbox: FromClients[] = [];
  private waiting?: () => void;

  constructor() {
    this.child = fork(resolve(__dirname, 'fanout-clients.ts'), { execArgv: ['-r', 'ts-node/register/transpile-only'] });
    this.child.on('message', (message: FromClients) => {
      this.inbox.push(message);
      this.waiting?.();
    });
  }

  async ask<K extends string>(message: ToClients, key: K): Promise<Extract<FromClients, Record<K, unknown>>> {
    this.child.send(message);
    for (;;) {
      const index = this.inbox.findIndex((m) => key in m);
      if (index >= 0) return this.inbox.splice(index, 1)[0] as Extract<FromClients, Record<K, unknown>>;
      await new Promise<void>((done) => (this.waiting = done));
    }
  }

  kill(): void {
    this.child.kill();
  }
}

/**
 * The subscribers, spread over `processes` child processes (BENCH_CLIENT_PROCESSES, default 2), so that no one client
 * process's backlog is counted as the gateway's delivery time, and none holds more sockets than its descriptors allow.
 */
export class Clients {
  private readonly processes: ClientProcess[];

  constructor(processes = Number(process.env.BENCH_CLIENT_PROCESSES ?? 2)) {
    this.processes = Array.from({ length: Math.max(1, processes) }, () => new ClientProcess());
  }

  /** Opens `count` subscribers over all the processes; resolves once each has had its first event. */
  async subscribe(url: string | string[], jobs: WatchedJob[], count: number, transport: Transport = 'ws'): Promise<{ ms: number }> {
    const started = now();
    const share = Math.ceil(count / this.processes.length);
    await Promise.all(
      this.processes.map((p, i) =>
        p.ask({ subscribe: { url, jobs, first: i * share, count: Math.max(0, Math.min(share, count - i * share)), transport } }, 'ready'),
      ),
    );
    return { ms: now() - started };
  }

  /** Every process records afresh from now on: receipts before the window are not counted. */
  async record(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.ask({ record: true }, 'recording')));
  }

  /** What every subscriber received while recording, and the client processes' CPU time meanwhile (summed). */
  async report(): Promise<{ received: [number, number][]; cpuMs: number }> {
    const reports = await Promise.all(this.processes.map((p) => p.ask({ report: true }, 'received')));
    return { received: reports.flatMap((r) => r.received), cpuMs: reports.reduce((sum, r) => sum + r.cpuMs, 0) };
  }

  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.ask({ close: true }, 'closed')));
  }

  /** Subscribe/unsubscribe cycles on one socket, in the first process. */
  cycles(url: string, job: WatchedJob, count: number) {
    return this.processes[0].ask({ cycles: { url, job, count } }, 'cycled');
  }

  kill(): void {
    for (const p of this.processes) p.kill();
  }
}
