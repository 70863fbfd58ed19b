import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, split, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { print } from 'graphql';
import { EventEmitter } from 'node:events';
import { Observable } from 'rxjs';
import { startTestGateway, type TestGateway } from './utils/gateway';
import { sseClient, wsClient } from './utils/subscriptions';
import { until } from './utils/wait';

/**
 * What a frontend team does first: Apollo Client 4 with its default cache,
 * queries over HTTP and subscriptions over graphql-ws. With global ids, a
 * subscription event lands on the cached job, and every query holding it
 * moves along without being fetched again.
 */

let t: TestGateway;

beforeAll(async () => {
  // A job that goes from QUEUED to SUCCEEDED in two seconds, polled every 200 ms.
  t = await startTestGateway({ env: { ER_EMULATOR_JOB_SECONDS: '2', ER_POLL_INTERVAL_MS: '200' } });
});

afterAll(async () => {
  await t.close();
});

/** Subscriptions over Server-Sent Events as an Apollo link, for networks without websockets (graphql-sse's client). */
function sseLink(httpUrl: string): { link: ApolloLink; dispose(): void } {
  const client = sseClient(httpUrl);
  const link = new ApolloLink(
    (operation) =>
      new Observable((observer) =>
        client.subscribe(
          { query: print(operation.query), variables: operation.variables, operationName: operation.operationName },
          { next: (result) => observer.next(result as never), error: (err) => observer.error(err), complete: () => observer.complete() },
        ),
      ),
  );
  return { link, dispose: () => client.dispose() };
}

test.each(['websockets', 'SSE'])(
  'over %s: a watched job query reaches SUCCEEDED from subscription events alone, with the default cache',
  async (transport) => {
    let queries = 0;
    const http = new HttpLink({
      uri: t.endpoint,
      fetch: (input, init) => {
        queries++;
        return fetch(input, init);
      },
    });
    const ws = wsClient(t.gateway.url);
    const sse = sseLink(t.gateway.url);
    const subscriptions = transport === 'SSE' ? sse.link : new GraphQLWsLink(ws);
    const client = new ApolloClient({
      cache: new InMemoryCache(),
      link: split(
        ({ query }) =>
          getMainDefinition(query).kind === 'OperationDefinition' &&
          (getMainDefinition(query) as { operation?: string }).operation === 'subscription',
        subscriptions,
        http,
      ),
    });
    try {
      const started = await t.post<{ startIdMappingJob: { jobId: string } }>(
        'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }',
      );
      const jobId = started.data!.startIdMappingJob.jobId;

      // The badge: a query for the job's status, watched as a component watches it.
      const statuses: string[] = [];
      const changed = new EventEmitter();
      const badge = client
        .watchQuery({
          query: gql`
            query Badge($jobId: ID!) {
              idMappingJob(workflowName: "customer-id-map", jobId: $jobId) {
                id
                status
              }
            }
          `,
          variables: { jobId },
        })
        .subscribe({
          next: ({ data }) => {
            if (data) statuses.push((data as { idMappingJob: { status: string } }).idMappingJob.status);
            changed.emit('status');
          },
        });
      const onStatus = { emitter: changed, event: 'status' };
      await until(() => statuses.length > 0, onStatus);
      expect(statuses[0]).toBe('QUEUED');

      // The live feed, elsewhere on the page: its events name the same job by id.
      const live = client
        .subscribe({
          query: gql`
            subscription Live($jobId: ID!) {
              idMappingJobUpdated(workflowName: "customer-id-map", jobId: $jobId) {
                id
                status
              }
            }
          `,
          variables: { jobId },
        })
        .subscribe({});
      await until(() => statuses.at(-1) === 'SUCCEEDED', onStatus);
      live.unsubscribe();
      badge.unsubscribe();

      expect(statuses).toContain('RUNNING');
      // The badge's query went over HTTP once: every later status came from the cache, fed by the subscription.
      expect(queries).toBe(1);
    } finally {
      client.stop();
      await ws.dispose();
      sse.dispose();
    }
  },
);
