import { ViewerPermissionsDocument, WorkflowPermissionsDocument } from './generated/graphql';
import { newApiKey, openPolicyEnv, startIssuer, writeTempFile } from './utils/auth';
import { codes, startTestGateway } from './utils/gateway';

/**
 * `entityResolutionViewer` and each workflow's `permissions`: what a frontend needs to show
 * who is signed in and offer only the actions the policy allows, answered
 * from the policy that enforces them, with no upstream call.
 */

const EVERYTHING = { read: true, start: true, subscribe: true };

test('with auth off, the viewer is anonymous and may do everything on every workflow, at no upstream cost', async () => {
  const t = await startTestGateway();
  try {
    // The lists' own calls: one List per kind. Permissions add none.
    t.emulator.resetRequests();
    const { data, errors } = await t.execute(ViewerPermissionsDocument);
    expect(errors).toBeUndefined();
    expect(data!.entityResolutionViewer).toEqual({ id: 'anonymous', kind: 'ANONYMOUS', groups: [] });
    const workflows = [...data!.idMappingWorkflows!.nodes, ...data!.matchingWorkflows!.nodes];
    expect(workflows.length).toBe(5);
    for (const workflow of workflows) expect(workflow.permissions).toEqual(EVERYTHING);
    expect([t.emulator.requests(), t.emulator.requests('ListIdMappingWorkflows'), t.emulator.requests('ListMatchingWorkflows')]).toEqual([
      2, 1, 1,
    ]);
  } finally {
    await t.close();
  }
});

test('with API keys, a reader may only read and subscribe, an operator may start where the policy says, and each is told so', async () => {
  const reader = newApiKey();
  const operator = newApiKey();
  const keys = writeTempFile('keys.yaml', {
    keys: [
      { name: 'reader', sha256: reader.sha256, groups: ['analysts'] },
      { name: 'operator', sha256: operator.sha256, groups: ['data-ops', 'analysts'] },
    ],
  });
  const t = await startTestGateway({
    env: {
      ER_AUTH: 'apikey',
      ER_API_KEYS_FILE: keys,
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [
          { to: { groups: ['analysts'] }, workflows: ['*'], actions: ['read', 'subscribe'] },
          { to: { groups: ['data-ops'] }, workflows: ['*-matching'], actions: ['start'] },
        ],
      }),
    },
  });
  try {
    const asReader = await t.post<{ entityResolutionViewer: unknown; matchingWorkflows: { nodes: { permissions: unknown }[] } }>(
      '{ entityResolutionViewer { id kind groups } matchingWorkflows { nodes { permissions { read start subscribe } } } }',
      {},
      { 'x-api-key': reader.key },
    );
    expect(asReader.errors).toBeUndefined();
    expect(asReader.data!.entityResolutionViewer).toEqual({ id: 'apiKey:reader', kind: 'API_KEY', groups: ['analysts'] });
    for (const workflow of asReader.data!.matchingWorkflows.nodes)
      expect(workflow.permissions).toEqual({ read: true, start: false, subscribe: true });

    const asOperator = await t.post<{
      entityResolutionViewer: unknown;
      idMappingWorkflows: { nodes: { workflowName: string; permissions: unknown }[] };
      matchingWorkflows: { nodes: { workflowName: string; permissions: unknown }[] };
    }>(
      '{ entityResolutionViewer { id kind groups } idMappingWorkflows { nodes { workflowName permissions { read start subscribe } } } matchingWorkflows { nodes { workflowName permissions { read start subscribe } } } }',
      {},
      { 'x-api-key': operator.key },
    );
    expect(asOperator.errors).toBeUndefined();
    expect(asOperator.data!.entityResolutionViewer).toEqual({ id: 'apiKey:operator', kind: 'API_KEY', groups: ['data-ops', 'analysts'] });
    for (const workflow of asOperator.data!.idMappingWorkflows.nodes)
      expect([workflow.workflowName, workflow.permissions]).toEqual([workflow.workflowName, { read: true, start: false, subscribe: true }]);
    for (const workflow of asOperator.data!.matchingWorkflows.nodes) expect(workflow.permissions).toEqual(EVERYTHING);

    // What permissions say is what the gateway does: the reader's start is refused, the operator's goes ahead.
    const start = 'mutation { startMatchingJob(input: { workflowName: "customer-matching" }) { jobId } }';
    expect(codes(await t.post(start, {}, { 'x-api-key': reader.key }))).toEqual(['FORBIDDEN']);
    expect((await t.post(start, {}, { 'x-api-key': operator.key })).errors).toBeUndefined();

    // Without a key, nothing: not even who is asking.
    expect(codes(await t.post('{ entityResolutionViewer { id } }'))).toEqual(['UNAUTHENTICATED']);
  } finally {
    await t.close();
  }
});

test("a workflow read by name says what the viewer may do there, the policy's patterns deciding per workflow", async () => {
  const t = await startTestGateway({
    env: openPolicyEnv({
      grants: [
        { to: { anyone: true }, workflows: ['*'], actions: ['read'] },
        { to: { anyone: true }, workflows: ['customer-*'], actions: ['start', 'subscribe'] },
      ],
    }),
  });
  try {
    const permissions = async (workflowName: string) =>
      (await t.execute(WorkflowPermissionsDocument, { workflowName })).data!.matchingWorkflow!.permissions;
    expect(await permissions('customer-matching')).toEqual(EVERYTHING);
    expect(await permissions('address-matching')).toEqual({ read: true, start: false, subscribe: false });
  } finally {
    await t.close();
  }
});

test("with tokens, the viewer is the token's subject with its groups claim, and its permissions follow the groups", async () => {
  const issuer = await startIssuer();
  const t = await startTestGateway({
    env: {
      ER_AUTH: 'jwt',
      ER_JWT_JWKS_URL: issuer.jwksUrl,
      ER_JWT_ISSUER: issuer.issuer,
      ER_JWT_AUDIENCE: issuer.audience,
      ER_POLICY_FILE: writeTempFile('policy.yaml', {
        grants: [{ to: { groups: ['analysts'] }, workflows: ['customer-*'], actions: ['read', 'subscribe'] }],
      }),
    },
  });
  try {
    const token = await issuer.sign('ana', { groups: ['analysts'] });
    const answer = await t.post<{
      entityResolutionViewer: unknown;
      idMappingWorkflows: { nodes: { workflowName: string; permissions: unknown }[] };
    }>(
      '{ entityResolutionViewer { id kind groups } idMappingWorkflows { nodes { workflowName permissions { read start subscribe } } } }',
      {},
      { authorization: `Bearer ${token}` },
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data).toEqual({
      entityResolutionViewer: { id: 'token:ana', kind: 'TOKEN', groups: ['analysts'] },
      idMappingWorkflows: { nodes: [{ workflowName: 'customer-id-map', permissions: { read: true, start: false, subscribe: true } }] },
    });
  } finally {
    await t.close();
    await issuer.close();
  }
});
