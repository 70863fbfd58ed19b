import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { printGatewaySchema } from '../src/server/schema';
import { startTestGateway } from './utils/gateway';

const committed = readFileSync(resolve(__dirname, '../schema.graphql'), 'utf8');

test('schema.graphql is the SDL the code generates (run `npm run schema` when this fails)', async () => {
  expect(await printGatewaySchema()).toBe(committed);
});

test('jobs are Federation entities keyed by workflowName and jobId, on Federation 2.4 or later', () => {
  expect(committed).toMatch(/@link\(url: "https:\/\/specs\.apollo\.dev\/federation\/v2\.([4-9]|1\d)"/);
  expect(committed).toMatch(/type IdMappingJob implements Node\s+@key\(fields: "workflowName jobId"\)/);
  expect(committed).toMatch(/type MatchingJob implements Node\s+@key\(fields: "workflowName jobId"\)/);
});

test('the SDL served to a router over HTTP (_service) is schema.graphql', async () => {
  const t = await startTestGateway();
  try {
    const { data } = await t.post<{ _service: { sdl: string } }>('{ _service { sdl } }');
    expect(`${data!._service.sdl.trimEnd()}\n`).toBe(committed);
  } finally {
    await t.close();
  }
});
