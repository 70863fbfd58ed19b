import { seededJobId } from '../src/emulator/seed';
import { startIssuer, writeTempFile, type TestIssuer } from './utils/auth';
import { startTestGateway, type TestGateway } from './utils/gateway';

/**
 * The fast paths of auth against what an issuer or a client controls: a
 * remembered token is looked up before its format is checked, and the
 * response cache's key is the principal's scope, a line break, then the
 * request's part. Over real HTTP, with tokens of a JWKS served over HTTP.
 */

const JOB = `query CustomerJob($workflowName: String!, $jobId: ID!) { idMappingJob(workflowName: $workflowName, jobId: $jobId) { jobId status } }`;
const variables = { workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 5) };
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

let issuer: TestIssuer;
let t: TestGateway;

beforeAll(async () => {
  issuer = await startIssuer();
  t = await startTestGateway({
    env: {
      ER_AUTH: 'jwt',
      ER_RESPONSE_CACHE_MB: '8',
      ER_JWT_JWKS_URL: issuer.jwksUrl,
      ER_JWT_ISSUER: issuer.issuer,
      ER_JWT_AUDIENCE: issuer.audience,
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [{ to: { groups: ['analysts'] }, workflows: ['customer-*'], actions: ['read'] }],
      }),
    },
  });
});

afterAll(async () => {
  await t.close();
  await issuer.close();
});

beforeEach(() => t.emulator.resetRequests());

function ask(authorization: string, body: Record<string, unknown> = { query: JOB, variables }): Promise<Response> {
  return fetch(t.endpoint, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify(body) });
}

test("a sub or group spelling another principal's scope and the line break is its own scope: never answered with that principal's cached answer", async () => {
  const victim = await issuer.sign('ana', { groups: ['analysts'] });
  // What the victim's key would read if the scope were not escaped: its scope, the line break, the start of the request's part.
  const forged = 'ana",["analysts"],[]]\n["*/*';
  const mimics = [
    await issuer.sign(forged, { groups: ['analysts'] }),
    await issuer.sign('ana', { groups: ['analysts', '"],[]]\n['] }),
    await issuer.sign('ana\n', { groups: ['analysts'] }),
  ];
  const first = await ask(`Bearer ${victim}`);
  expect(first.status).toBe(200);
  expect(first.headers.get('cache-control')).toMatch(/private/);
  const again = await ask(`Bearer ${victim}`);
  expect(again.headers.get('age')).not.toBeNull();
  expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
  for (const [i, token] of mimics.entries()) {
    const res = await ask(`Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('age')).toBeNull();
    expect(t.emulator.requests('GetIdMappingJob')).toBe(i + 2);
  }
});

test("a remembered token's other spellings are refused 401 before any call, but for its last character's unused bits", async () => {
  const token = await issuer.sign('oscar', { groups: ['analysts'] });
  expect((await ask(`Bearer ${token}`)).status).toBe(200);
  const [header, payload, signature] = token.split('.');
  const refused = [
    `${token}=`,
    `${token}==`,
    `${token}.`,
    `.${token}`,
    `${header}..${payload}.${signature}`,
    `${header}.${payload} .${signature}`,
    `${token}AAAA`,
    `${token}A`,
    `${header}.${payload}`,
    token.slice(0, -1) + '+',
    token.slice(0, -1) + '/',
    token.slice(0, -1) + '\u00ff',
  ];
  for (const spelling of refused) {
    const res = await ask(`Bearer ${spelling}`);
    expect({ spelling, status: res.status }).toEqual({ spelling, status: 401 });
  }
  expect((await ask(`Basic ${token}`)).status).toBe(401);
  expect(t.emulator.requests('GetIdMappingJob')).toBe(1);
  // ES256: 64 bytes in 86 characters, the last one's four low bits unread: 16 spellings of one signature, and no more.
  const last = ALPHABET.indexOf(token.at(-1)!);
  const admitted: number[] = [];
  for (let value = 0; value < 64; value++) {
    const res = await ask(`bearer  ${token.slice(0, -1)}${ALPHABET[value]} `);
    if (res.status === 200) admitted.push(value);
    else expect(res.status).toBe(401);
  }
  expect(admitted).toEqual(Array.from({ length: 16 }, (_, i) => (last & 0b110000) | i));
});
