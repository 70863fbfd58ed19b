import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { startGatewayProcess } from '../utils/process';
import { buildOnce, load, type Load } from './throughput';

/** A way to run the gateway (its settings) and to ask it (the headers every request carries). */
export interface Mode {
  label: string;
  env: Record<string, string>;
  headers?: Record<string, string>;
}

/** What a mode measured, a figure per round: requests served, and the CPU µs its gateway's process spent per request. */
export interface ModeRounds {
  loads: Load[];
  cpuUs: number[];
}

/**
 * With two CPUs or more, the gateways run on the first and everything else
 * (the load generator, the collector, this process) on the others, pinned
 * by `taskset`: left to the scheduler, a gateway and its load generator
 * sometimes share a CPU and sometimes not, and a round's CPU per request
 * moved by up to half between rounds of the same process. `BENCH_PIN=0`
 * leaves them to the scheduler.
 */
const PINNED = availableParallelism() >= 2 && process.env.BENCH_PIN !== '0';
const GATEWAY_CPU = '0';
const OTHER_CPUS = `1-${availableParallelism() - 1}`;

/** Runs `run` with this process (and so what it starts unpinned: a collector) on the CPUs the gateways leave; then on all again. */
export async function offGatewayCpu<T>(run: () => Promise<T>): Promise<T> {
  const pin = (cpus: string) => execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
  if (PINNED) pin(OTHER_CPUS);
  try {
    return await run();
  } finally {
    if (PINNED) pin(`0-${availableParallelism() - 1}`);
  }
}

/**
 * How long each gateway is loaded before it is measured: a new process's
 * throughput rose for its first 6 s or so (what the compiler makes of the
 * hot path), so a shorter warm-up charged its compiling to the first rounds.
 */
export const WARM_SECONDS = 8;

/** `BENCH_NODE_FLAGS`: flags every gateway process is started with (V8's, e.g. `--max-semi-space-size=64`), space-separated. */
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);

/** Linux's USER_HZ, what /proc counts CPU time in: 100 on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/**
 * A gateway as `npm start` runs it (the compiled `dist/`, built first), in
 * a process of its own: its CPU time is its own, read from /proc, and no
 * other gateway's export, garbage or compiled code is charged to it.
 * `body` is asked once with `headers` and must be answered without errors.
 * With `profileDir`, the process writes a CPU profile of its whole life
 * there when it exits (`--cpu-prof`).
 */
export async function gatewayProcess(
  env: Record<string, string>,
  body: string,
  headers: Record<string, string> = {},
  profileDir?: string,
): Promise<{ url: string; cpuMs: () => number; close: () => Promise<void> }> {
  buildOnce();
  const profiling = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=100'] : [];
  const gateway = await startGatewayProcess({ LOG_LEVEL: 'info', ...env }, [
    ...(PINNED ? ['taskset', '-c', GATEWAY_CPU] : []),
    process.execPath,
    ...NODE_FLAGS,
    ...profiling,
    'dist/server/main.js',
  ]);
  const url = `${gateway.url}/graphql`;
  const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const checked = (await answer.json()) as { errors?: unknown };
  if (!answer.ok || checked.errors) {
    gateway.child.kill('SIGKILL');
    throw new Error(JSON.stringify(checked));
  }
  const stat = `/proc/${gateway.child.pid}/stat`;
  return {
    url,
    // utime and stime, in clock ticks: fields 14 and 15, counted after the command's name (field 2, which may hold spaces).
    cpuMs: () => {
      const fields = readFileSync(stat, 'utf8').split(') ')[1].split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
    },
    close: async () => {
      gateway.child.kill('SIGTERM');
      await gateway.exited;
    },
  };
}

/**
 * `body` asked of one gateway process per mode, all started at once (only
 * one is loaded at a time): each warmed for `warmSeconds` as fast as it
 * answers, then loaded for `seconds` in turn, `rounds` times, each cycle
 * starting with the next mode, so that the machine's drift, and what one
 * round leaves behind, falls on every mode alike. With `rate`, the rounds
 * send that many requests a second: every mode then gets the same requests
 * at the same moments, whatever its speed. Then again with new processes,
 * `processes` times in all: two processes of the same code differ by up to
 * a fifth in the CPU a request takes (what the compiler made of it, where
 * the scheduler put them), which rounds in one process cannot average out.
 */
export async function compareModes(
  body: string,
  modes: Mode[],
  options: { rounds: number; seconds: number; warmSeconds: number; processes?: number; profileDir?: string; rate?: number },
): Promise<ModeRounds[]> {
  const measured: ModeRounds[] = modes.map(() => ({ loads: [], cpuUs: [] }));
  for (let set = 0; set < (options.processes ?? 1); set++) {
    const gateways = await Promise.all(
      modes.map((mode) => gatewayProcess(mode.env, body, mode.headers, options.profileDir && `${options.profileDir}/${slug(mode.label)}`)),
    );
    try {
      for (const [m, gateway] of gateways.entries())
        await load(gateway.url, body, options.warmSeconds, undefined, modes[m].headers, PINNED ? OTHER_CPUS : undefined);
      for (let r = 0; r < options.rounds; r++) {
        for (let k = 0; k < modes.length; k++) {
          const m = (set + r + k) % modes.length;
          const before = gateways[m].cpuMs();
          const served = await load(
            gateways[m].url,
            body,
            options.seconds,
            undefined,
            modes[m].headers,
            PINNED ? OTHER_CPUS : undefined,
            options.rate,
          );
          if (served.non2xx + served.errors > 0) throw new Error(`${modes[m].label}: ${served.non2xx} non-2xx, ${served.errors} errors`);
          // A gateway that could not keep up ran as fast as it answers: its round is not of the rate asked.
          if (options.rate && served.total < 0.95 * options.rate * options.seconds) {
            console.warn(`${modes[m].label}: ${served.total} requests in ${options.seconds} s, under the ${options.rate}/s asked`);
          }
          measured[m].loads.push(served);
          measured[m].cpuUs.push(((gateways[m].cpuMs() - before) * 1000) / served.total);
        }
      }
    } finally {
      await Promise.all(gateways.map((gateway) => gateway.close()));
    }
  }
  return measured;
}

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The median, over rounds, of `of`'s figure over the base's of the same round (a ratio of two figures measured side by side). */
export const medianRatio = (of: number[], base: number[]) => median(of.map((value, r) => value / base[r]));

const slug = (label: string) => label.replace(/\W+/g, '-').replace(/^-|-$/g, '');
