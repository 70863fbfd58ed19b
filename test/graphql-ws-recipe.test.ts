import type { Client } from 'graphql-ws';
import { docBlock, runBlock } from './utils/docs';
import { startTestGateway, type TestGateway } from './utils/gateway';
import { leftover } from './utils/leftovers';

/**
 * The graphql-ws recipe of docs/frontend/live-updates.md, taken from the page
 * and run as written on Node, with the reader's own parts (`jobId`, `render`,
 * `showError`, `done`) supplied by the test.
 */

const block = docBlock('docs/frontend/live-updates.md', 'graphql-ws');

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({ env: { ER_EMULATOR_JOB_SECONDS: '1', ER_POLL_INTERVAL_MS: '100' } });
});

afterAll(async () => {
  await t.close();
});

/** Runs the block for `jobId` until the subscription completes; returns what it rendered and the errors it showed. */
async function watch(jobId: string): Promise<{ rendered: { status: string }[]; shown: unknown[] }> {
  const rendered: { status: string }[] = [];
  const shown: unknown[] = [];
  await new Promise<void>((done) => {
    const { client } = runBlock<{ client: Client }>(block, ['client'], {
      addresses: { 'ws://127.0.0.1:4000': t.gateway.url.replace('http', 'ws') },
      scope: { jobId, done, render: (job: { status: string }) => rendered.push(job), showError: (errors: unknown) => shown.push(errors) },
    });
    leftover(() => client.dispose());
  });
  return { rendered, shown };
}

test("the page's graphql-ws subscription renders a job's progress until SUCCEEDED, then completes", async () => {
  const started = await t.post<{ startIdMappingJob: { jobId: string } }>(
    'mutation { startIdMappingJob(input: { workflowName: "customer-id-map" }) { jobId } }',
  );
  const { rendered, shown } = await watch(started.data!.startIdMappingJob.jobId);
  expect(shown).toEqual([]);
  expect(rendered.at(-1)).toMatchObject({ status: 'SUCCEEDED', metrics: { totalRecordsProcessed: expect.any(Number) } });
});

test("as the page's comment says, a subscription's own error arrives as a result with errors, and complete follows", async () => {
  const { rendered, shown } = await watch('f'.repeat(32));
  expect(rendered).toEqual([]);
  expect(shown).toEqual([[expect.objectContaining({ extensions: expect.objectContaining({ code: 'NOT_FOUND' }) })]]);
});
