import { startGateway } from '../src/server/app';
import { loadConfig } from '../src/server/config';
import { awsBackendEnv, capturedLogger, localCredentials, startTestEmulator } from './utils/gateway';
import { leftover } from './utils/leftovers';
import { startGatewayProcess } from './utils/process';
import { ownTlsRedis } from './utils/redis';

/**
 * `rediss://` with an ACL user, as managed Redis is reached: a Redis of the
 * test's own that takes TLS only and one user (the default user off), its
 * certificate from a CA the gateway trusts through NODE_EXTRA_CA_CERTS.
 */

test('rediss:// with an ACL user and a percent-encoded password: ready; the wrong password or no TLS trust: not ready', async () => {
  const redis = await ownTlsRedis('gateway', 's@cret/1');
  const emulator = await startTestEmulator();
  const env = (url: string, trust = true) => ({
    ...awsBackendEnv(emulator.url, emulator.state.region),
    ER_ACCOUNT_ID: emulator.state.accountId,
    ER_REDIS_URL: url,
    ...(trust ? { NODE_EXTRA_CA_CERTS: redis.caFile } : {}),
  });
  const readyz = async (gateway: { url: string }) => {
    const res = await fetch(`${gateway.url}/readyz`);
    return [res.status, ((await res.json()) as { checks: Record<string, boolean> }).checks.redis];
  };
  const good = `rediss://gateway:s%40cret%2F1@127.0.0.1:${redis.port}/0`;
  const [trusted, wrongPassword] = await Promise.all([
    startGatewayProcess(env(good)),
    startGatewayProcess(env(`rediss://gateway:wrong@127.0.0.1:${redis.port}/0`)),
  ]);
  expect(await readyz(trusted)).toEqual([200, true]);
  expect(await readyz(wrongPassword)).toEqual([503, false]);
  // This process was not given the CA.
  localCredentials();
  const untrusted = await startGateway(loadConfig(env(good, false)), { logger: capturedLogger('silent').logger, processMetrics: false });
  leftover(() => untrusted.close());
  expect(await readyz(untrusted)).toEqual([503, false]);
}, 60_000);
