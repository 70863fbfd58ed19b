import { print } from 'graphql';
import { seededJobId } from '../src/emulator/seed';
import { startGateway } from '../src/server/app';
import { loadConfig } from '../src/server/config';
import { IdMappingJobUpdatedDocument } from './generated/graphql';
import { awsBackendEnv, capturedLogger, closedPort, localCredentials, startTestGateway } from './utils/gateway';
import { Subscription, wsClient } from './utils/subscriptions';

test('a service that cannot be reached is counted as ECONNREFUSED, not as a generic Error', async () => {
  const config = loadConfig(awsBackendEnv(`http://127.0.0.1:${await closedPort()}`, 'us-east-1'));
  const { logger } = capturedLogger('silent');
  localCredentials();
  const gateway = await startGateway(config, { logger, processMetrics: false });
  try {
    const res = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: `{ idMappingJob(workflowName: "w", jobId: "${'a'.repeat(32)}") { jobId } }` }),
    });
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('UPSTREAM_UNAVAILABLE');
    const { values } = await gateway.metrics.upstreamRequests.get();
    expect(values).toEqual([expect.objectContaining({ labels: { operation: 'GetIdMappingJob', outcome: 'ECONNREFUSED' } })]);
  } finally {
    await gateway.close();
  }
});

test('polls_total counts only reads that reached the service: a subscription served from the cache counts none', async () => {
  const t = await startTestGateway({ env: { ER_FINAL_JOB_CACHE_SIZE: '100' } });
  const client = wsClient(t.gateway.url);
  try {
    const jobId = seededJobId('customer-id-map', 12);
    await t.post(`{ idMappingJob(workflowName: "customer-id-map", jobId: "${jobId}") { jobId } }`);
    const sub = new Subscription(client, print(IdMappingJobUpdatedDocument), { workflowName: 'customer-id-map', jobId });
    await sub.ended();
    expect(sub.events).toHaveLength(1);
    expect((await t.gateway.metrics.polls.get()).values).toEqual([]);
    expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
  } finally {
    await client.dispose();
    await t.close();
  }
});
