import { seededJobId } from '../src/emulator/seed';
import { documentHash } from '../src/server/trusted-documents';
import { writeTempFile } from './utils/auth';
import { startTestGateway, type TestGateway } from './utils/gateway';
import { RawSocket, sseClient } from './utils/subscriptions';

/** ER_TRUSTED_DOCUMENTS: only the manifest's operations run, named by hash or by identical text, on HTTP, websockets and SSE. */

const JOB_QUERY = `query Job($jobId: ID!) { idMappingJob(workflowName: "customer-id-map", jobId: $jobId) { id status } }`;
const UPDATES = `subscription Live($jobId: ID!) { idMappingJobUpdated(workflowName: "customer-id-map", jobId: $jobId) { id status } }`;
const OTHER = '{ idMappingWorkflows(first: 1) { nodes { workflowName } } }';
const jobId = seededJobId('customer-id-map', 4);

let t: TestGateway;

beforeAll(async () => {
  // The client preset's format: hash → document.
  const manifest = writeTempFile(
    'persisted-documents.json',
    JSON.stringify({ [documentHash(JOB_QUERY)]: JOB_QUERY, [documentHash(UPDATES)]: UPDATES }),
  );
  t = await startTestGateway({ env: { ER_TRUSTED_DOCUMENTS: manifest } });
});

afterAll(async () => {
  await t.close();
});

async function postBody(body: Record<string, unknown>) {
  const res = await fetch(t.endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return {
    status: res.status,
    body: (await res.json()) as { data?: Record<string, unknown>; errors?: { message: string; extensions: { code: string } }[] },
  };
}

test('over HTTP: by documentId, by APQ hash, by identical text; anything else refused before it runs', async () => {
  const expected = { idMappingJob: { id: expect.any(String), status: 'SUCCEEDED' } };
  expect((await postBody({ documentId: `sha256:${documentHash(JOB_QUERY)}`, variables: { jobId } })).body.data).toEqual(expected);
  expect(
    (await postBody({ extensions: { persistedQuery: { version: 1, sha256Hash: documentHash(JOB_QUERY) } }, variables: { jobId } })).body
      .data,
  ).toEqual(expected);
  expect((await postBody({ query: JOB_QUERY, variables: { jobId } })).body.data).toEqual(expected);
  const get = await fetch(
    `${t.endpoint}?documentId=${documentHash(JOB_QUERY)}&variables=${encodeURIComponent(JSON.stringify({ jobId }))}`,
    { headers: { 'apollo-require-preflight': 'true' } },
  );
  expect(((await get.json()) as { data: unknown }).data).toEqual(expected);

  const before = t.emulator.requests();
  const other = await postBody({ query: OTHER });
  expect([other.status, other.body.errors![0].extensions.code]).toEqual([403, 'FORBIDDEN']);
  const unknown = await postBody({ documentId: 'f'.repeat(64) });
  expect([unknown.status, unknown.body.errors![0].extensions.code]).toEqual([400, 'PERSISTED_QUERY_NOT_FOUND']);
  expect(t.emulator.requests()).toBe(before);
});

test('over websockets: by text or by hash; anything else is an error', async () => {
  const socket = await RawSocket.open(t.gateway.url);
  try {
    socket.subscribe('text', UPDATES, { jobId });
    socket.send(
      JSON.stringify({
        id: 'hash',
        type: 'subscribe',
        payload: { query: '', extensions: { persistedQuery: { version: 1, sha256Hash: documentHash(UPDATES) } }, variables: { jobId } },
      }),
    );
    socket.subscribe('other', OTHER);
    await socket.until(() =>
      ['text', 'hash', 'other'].every((id) => socket.messages.some((m) => m.id === id && (m.type === 'complete' || m.type === 'error'))),
    );
    expect(socket.results('text')[0].data).toEqual({ idMappingJobUpdated: { id: expect.any(String), status: 'SUCCEEDED' } });
    expect(socket.results('hash')[0].data).toEqual(socket.results('text')[0].data);
    expect(socket.messages.find((m) => m.id === 'other')).toEqual({
      id: 'other',
      type: 'error',
      payload: [expect.objectContaining({ extensions: { code: 'FORBIDDEN', reason: 'untrusted_document' } })],
    });
  } finally {
    socket.close();
  }
});

test('over SSE: by text; anything else is a 400 before it runs', async () => {
  const client = sseClient(t.gateway.url);
  try {
    const results = [];
    for await (const result of client.iterate({ query: UPDATES, variables: { jobId } })) results.push(result);
    expect(results.map((r) => r.data)).toEqual([{ idMappingJobUpdated: { id: expect.any(String), status: 'SUCCEEDED' } }]);
  } finally {
    client.dispose();
  }
  const other = await fetch(`${t.gateway.url}/graphql/stream`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query: OTHER }),
  });
  expect(other.status).toBe(400);
  expect(((await other.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('FORBIDDEN');
});

test("Apollo's persisted query list is read too", async () => {
  const manifest = writeTempFile(
    'persisted-query-manifest.json',
    JSON.stringify({
      format: 'apollo-persisted-query-manifest',
      version: 1,
      operations: [{ id: documentHash(JOB_QUERY), name: 'Job', type: 'query', body: JOB_QUERY }],
    }),
  );
  const g = await startTestGateway({ env: { ER_TRUSTED_DOCUMENTS: manifest } });
  try {
    const res = await fetch(g.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ documentId: documentHash(JOB_QUERY), variables: { jobId } }),
    });
    expect(((await res.json()) as { data: unknown }).data).toEqual({ idMappingJob: { id: expect.any(String), status: 'SUCCEEDED' } });
  } finally {
    await g.close();
  }
});
