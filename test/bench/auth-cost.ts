import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { startIssuer } from '../utils/auth';
import { compareModes, median, offGatewayCpu, WARM_SECONDS, type Mode } from './modes';
import { authModes, SCENARIOS } from './throughput';

/** What `authCost` measures, and how long (the `BENCH_` settings below). */
export interface AuthCostOptions {
  seconds: number;
  rounds: number;
  processes: number;
  /** The throughput queries, by index. */
  queries: number[];
  /** Requests a second in each round; 0: as fast as each gateway answers. */
  rate: number;
  /** A folder for each gateway's CPU profile. */
  profiles?: string;
}

/**
 * What auth costs, alone: each query of the throughput bench against a
 * gateway with auth off, with a JWT and with an API key, by the CPU time the
 * gateway's process spends per request (each gateway has a process of its
 * own, as `npm start` runs it, and autocannon another). The modes' gateways
 * run side by side and are loaded in turn, `BENCH_ROUNDS` cycles of
 * `BENCH_SECONDS` each (each cycle starting with the next mode), so that the
 * machine's drift falls on every mode alike, and all of it again with new
 * processes, `BENCH_PROCESSES` sets in all (two processes of the same code
 * differ by up to a fifth); a mode's figure is its median
 * round, its ratio the median of its rounds' ratios to auth off's of the
 * same cycle. The rounds send `BENCH_RATE` requests a second (default
 * 5,000, under what each query's gateway answers on one CPU; a round short
 * of it is warned of; 0: as fast as each answers): at a fixed rate a mode's
 * CPU per request moved by ±2 to 4 µs between sets of processes, as fast
 * as it answers by up to a fifth. `BENCH_QUERIES`
 * picks queries by index (`0,3`); `BENCH_HEADERS_ALONE` adds auth off with
 * each mode's header sent (what its bytes cost, checked by no one);
 * `BENCH_PROFILE` a folder where each gateway writes a CPU profile of its
 * life (`<query>/<mode>/`, sampled every 100 µs).
 *
 * `BENCH_ONLY=auth npm run bench`.
 */
export async function authCost(options: AuthCostOptions): Promise<void> {
  return offGatewayCpu(() => measureAuth(options));
}

async function measureAuth({ seconds, rounds, processes, queries, rate, profiles }: AuthCostOptions): Promise<void> {
  const issuer = await startIssuer();
  const auth = await authModes(issuer);
  const modes: Mode[] = [{ label: 'off', env: {}, headers: {} }, ...auth];
  if (process.env.BENCH_HEADERS_ALONE)
    modes.push(...auth.map((mode) => ({ label: `off, ${mode.label}'s header sent`, env: {}, headers: mode.headers })));
  try {
    console.log(
      `\nauth cost: CPU µs per request of the gateway's process, user and system, at ${rate ? `${rate} requests/s` : 'as many requests/s as it answers'}, median of ${rounds} rounds of ${seconds} s per mode taken in turn, in each of ${processes} sets of processes (ratio: median of the cycles', and their range); load average ${loads()}`,
    );
    console.log(`| query | ${modes.map((mode) => mode.label).join(' | ')} | JWT ÷ off (off µs ÷ JWT µs) | API key ÷ off |`);
    console.log(`| --- | ${modes.map(() => '---').join(' | ')} | --- | --- |`);
    for (const index of queries) {
      const scenario = SCENARIOS[index];
      const profileDir = profiles && `${profiles}/${index}`;
      if (profileDir) mkdirSync(profileDir, { recursive: true });
      const measured = await compareModes(
        scenario.body,
        modes.map((mode) => ({ ...mode, env: { ...scenario.env, ...mode.env } })),
        { rounds, seconds, warmSeconds: WARM_SECONDS, processes, profileDir, rate },
      );
      const ratios = [1, 2].map((m) => {
        const each = measured[0].cpuUs.map((off, r) => off / measured[m].cpuUs[r]);
        return `**${median(each).toFixed(2)}** (${Math.min(...each).toFixed(2)}–${Math.max(...each).toFixed(2)})`;
      });
      console.log(
        `| ${index}: ${scenario.label} | ${measured.map((m) => median(m.cpuUs).toFixed(1)).join(' | ')} | ${ratios.join(' | ')} |`,
      );
    }
  } finally {
    await issuer.close();
  }
  console.log(`\nload average at the end: ${loads()}; Node ${process.version}`);
}

const loads = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
