import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import pino from 'pino';
import { startGateway } from '../../src/server/app';
import { loadConfig } from '../../src/server/config';
import { startIssuer } from '../utils/auth';
import { authModes, measure, SCENARIOS, type AuthMode, type Scenario } from './throughput';

/**
 * What auth costs, alone: each query of the throughput bench against a
 * gateway with auth off, with a JWT and with an API key, by the CPU time the
 * gateway's process spends per request (autocannon has a process of its
 * own). The modes run back to back and then in reverse order (off, JWT, API
 * key, API key, JWT, off), each figure the mean of its two: on a shared
 * machine the CPU a request takes drifts within a run, and the drift then
 * falls on every mode alike. `BENCH_QUERIES` picks queries by index (`0,3`),
 * `BENCH_SECONDS` the length of each measure, `BENCH_ROUNDS` how many times
 * the whole is repeated; `BENCH_HEADERS_ALONE` adds auth off with each
 * mode's header sent (what its bytes cost, checked by no one); `BENCH_PROFILE`
 * a folder where a CPU profile of each measure is written
 * (`<query>-<mode>-<1|2>.cpuprofile`, sampled every 100 µs).
 *
 * `BENCH_ONLY=auth npm run bench`.
 */
export async function authCost(seconds: number, rounds: number, queries: number[], profiles?: string): Promise<void> {
  const issuer = await startIssuer();
  const auth = await authModes(issuer);
  const modes: AuthMode[] = [{ label: 'off', env: {}, headers: {} }, ...auth];
  if (process.env.BENCH_HEADERS_ALONE)
    modes.push(...auth.map((mode) => ({ label: `off, ${mode.label}'s header sent`, env: {}, headers: mode.headers })));
  const session = profiles ? new Session() : undefined;
  session?.connect();
  await session?.post('Profiler.enable');
  await session?.post('Profiler.setSamplingInterval', { interval: 100 });
  const profiled = session && {
    start: async () => void (await session.post('Profiler.start')),
    stop: async (name: string) => {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(`${profiles}/${name}.cpuprofile`, JSON.stringify(profile));
    },
  };
  try {
    for (let round = 1; round <= rounds; round++) {
      console.log(
        `\nauth cost, round ${round}: CPU µs per request, user and system (user alone: our code, without the kernel's socket work), ${seconds} s each after warm-up; load average ${loads()}`,
      );
      console.log(`| query | ${modes.map((mode) => mode.label).join(' | ')} | JWT ÷ off (off µs ÷ JWT µs) | API key ÷ off |`);
      console.log(`| --- | ${modes.map(() => '---').join(' | ')} | --- | --- |`);
      for (const index of queries) {
        const cpu = modes.map(() => 0);
        const user = modes.map(() => 0);
        const order = [...modes.keys(), ...[...modes.keys()].reverse()];
        for (const [at, m] of order.entries()) {
          const name = `${index}-${modes[m].label.replace(/\W/g, '')}-${at < modes.length ? 1 : 2}`;
          const r = await once(SCENARIOS[index], modes[m], seconds, profiled && { start: profiled.start, stop: () => profiled.stop(name) });
          cpu[m] += r.cpuUs / 2;
          user[m] += r.userUs / 2;
        }
        const figures = (us: number[]) =>
          `${us.map((each) => each.toFixed(1)).join(' | ')} | ${(us[0] / us[1]).toFixed(2)} | ${(us[0] / us[2]).toFixed(2)}`;
        console.log(`| ${index}: ${SCENARIOS[index].label} | ${figures(cpu)} |`);
        console.log(`| ${index}, user time alone | ${figures(user)} |`);
      }
    }
  } finally {
    session?.disconnect();
    await issuer.close();
  }
  console.log(`\nload average at the end: ${loads()}; Node ${process.version}`);
}

/** One measure of `scenario` on a gateway of its own with `mode`: CPU µs per request, and user µs alone. */
async function once(
  scenario: Scenario,
  mode: AuthMode,
  seconds: number,
  profile?: { start: () => Promise<void>; stop: () => Promise<void> },
): Promise<{ cpuUs: number; userUs: number }> {
  const gateway = await startGateway(loadConfig({ PORT: '0', ER_METRICS_PORT: '0', LOG_LEVEL: 'info', ...scenario.env, ...mode.env }), {
    logger: pino({ level: 'info' }, pino.destination('/dev/null')),
  });
  try {
    const answer = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...mode.headers },
      body: scenario.body,
    });
    const checked = (await answer.json()) as { errors?: unknown };
    if (!answer.ok || checked.errors) throw new Error(`${scenario.label} (${mode.label}): ${JSON.stringify(checked)}`);
    const r = await measure(`${gateway.url}/graphql`, scenario.body, seconds, mode.headers, profile?.start);
    await profile?.stop();
    if (r.non2xx + r.errors > 0) throw new Error(`${scenario.label} (${mode.label}): ${r.non2xx} non-2xx, ${r.errors} errors`);
    return r;
  } finally {
    await gateway.close();
  }
}

const loads = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
