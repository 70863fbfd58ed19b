import { CUSTOMER_ID_MAP_JOBS, seededJobId } from '../src/emulator/seed';
import {
  IdMappingJobDocument,
  IdMappingJobStatusesDocument,
  IdMappingJobsWithMetricsDocument,
  IdMappingWorkflowDocument,
  IdMappingWorkflowsDocument,
  MatchingJobDocument,
  MatchingJobsWithMetricsDocument,
  MatchingWorkflowDocument,
  MatchingWorkflowsDocument,
  WorkflowDetailsFromListDocument,
} from './generated/graphql';
import { codes, runningJob, startTestGateway, type TestGateway } from './utils/gateway';

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway();
});

afterAll(() => t.close());

beforeEach(() => t.emulator.resetRequests());

describe('jobs', () => {
  test('idMappingJob returns every field of the service, counts as SafeInt and times as ISO-8601', async () => {
    const jobId = seededJobId('customer-id-map', 3);
    const { status, data, errors } = await t.execute(IdMappingJobDocument, { workflowName: 'customer-id-map', jobId });
    expect(status).toBe(200);
    expect(errors).toBeUndefined();
    const job = data!.idMappingJob!;
    expect(job).toMatchObject({ workflowName: 'customer-id-map', jobId, status: 'SUCCEEDED', jobType: 'BATCH', errorDetails: null });
    expect(job.startTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(new Date(job.endTime!).getTime()).toBeGreaterThan(new Date(job.startTime).getTime());
    const metrics = job.metrics!;
    expect(Object.values(metrics)).toHaveLength(15);
    for (const value of Object.values(metrics)) expect(Number.isSafeInteger(value)).toBe(true);
    expect(metrics.totalRecordsProcessed! + metrics.recordsNotProcessed!).toBe(metrics.inputRecords);
    expect(job.outputSourceConfig).toEqual([
      {
        roleArn: expect.stringMatching(/^arn:aws:iam::/),
        outputS3Path: 's3://er-demo-output/customer-id-map/',
        kmsArn: expect.stringMatching(/^arn:aws:kms:/),
      },
    ]);
    expect(t.emulator.requests()).toBe(1);
  });

  test("counts near the model's 32-bit Integer limit come through whole", async () => {
    const { data } = await t.execute(IdMappingJobDocument, { workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 98) });
    expect(data!.idMappingJob!.metrics!.inputRecords).toBe(2_100_000_000);
    expect(data!.idMappingJob!.metrics!.totalMappedRecords).toBe(Math.floor((2_100_000_000 - ((98 * 131) % 997)) * 0.82));
    const matching = await t.execute(MatchingJobDocument, {
      workflowName: 'customer-matching',
      jobId: seededJobId('customer-matching', 3),
    });
    expect(matching.data!.matchingJob!.metrics!.inputRecords).toBe(1_900_000_000);
  });

  test('a failed job carries errorDetails; a running one has metrics and no endTime', async () => {
    const failed = await t.execute(IdMappingJobDocument, { workflowName: 'customer-id-map', jobId: seededJobId('customer-id-map', 97) });
    expect(failed.data!.idMappingJob).toMatchObject({
      status: 'FAILED',
      errorDetails: { errorMessage: expect.stringMatching(/Access denied/) },
    });
    const held = runningJob(t.emulator);
    try {
      const running = await t.execute(IdMappingJobDocument, held);
      expect(running.data!.idMappingJob).toMatchObject({
        status: 'RUNNING',
        jobType: 'INCREMENTAL',
        endTime: null,
        metrics: { inputRecords: 240_000 },
      });
    } finally {
      // Ended, so that it holds the region's one running ID-mapping job no longer.
      t.emulator.state.failJob('idMapping', held.workflowName, held.jobId, 'ended by the test');
    }
  });

  test('matchingJob returns its metrics, errors and output', async () => {
    const ok = await t.execute(MatchingJobDocument, { workflowName: 'customer-matching', jobId: seededJobId('customer-matching', 1) });
    expect(ok.data!.matchingJob).toMatchObject({
      status: 'SUCCEEDED',
      metrics: { inputRecords: 1_310_000, matchIDs: expect.any(Number) },
      outputSourceConfig: [{ outputS3Path: 's3://er-demo-output/customer-matching/', kmsArn: expect.any(String) }],
    });
    const failed = await t.execute(MatchingJobDocument, { workflowName: 'customer-matching', jobId: seededJobId('customer-matching', 2) });
    expect(failed.data!.matchingJob).toMatchObject({
      status: 'FAILED',
      metrics: null,
      errorDetails: { errorMessage: expect.stringMatching(/UNIQUE_ID/) },
    });
  });

  test('a missing job is null with NOT_FOUND', async () => {
    const missing = await t.execute(IdMappingJobDocument, { workflowName: 'customer-id-map', jobId: 'f'.repeat(32) });
    expect(missing.data).toEqual({ idMappingJob: null });
    expect(codes(missing)).toEqual(['NOT_FOUND']);
    expect(missing.errors![0].path).toEqual(['idMappingJob']);
    const noWorkflow = await t.execute(MatchingJobDocument, { workflowName: 'no-such-workflow', jobId: 'f'.repeat(32) });
    expect(noWorkflow.data).toEqual({ matchingJob: null });
    expect(codes(noWorkflow)).toEqual(['NOT_FOUND']);
  });
});

describe('job lists', () => {
  test('a list with metrics reads each job once: one List and exactly N Gets', async () => {
    const { data } = await t.execute(IdMappingJobsWithMetricsDocument, { workflowName: 'customer-id-map', first: 10 });
    const nodes = data!.idMappingJobs!.nodes;
    expect(nodes).toHaveLength(10);
    expect(nodes.every((job) => job.metrics !== null && job.outputSourceConfig !== null && job.jobType !== null)).toBe(true);
    expect(t.emulator.requests('ListIdMappingJobs')).toBe(1);
    expect(t.emulator.requests('GetIdMappingJob')).toBe(10);
  });

  test('a list of statuses alone costs no Get', async () => {
    const { data } = await t.execute(IdMappingJobStatusesDocument, { workflowName: 'customer-id-map', first: 5 });
    expect(data!.idMappingJobs!.edges.map((edge) => edge.node.status)).toHaveLength(5);
    expect(t.emulator.requests()).toBe(1);
  });

  test('first defaults to 25; first over 25 reads across upstream pages; after continues where the page ended', async () => {
    const defaults = await t.execute(IdMappingJobStatusesDocument, { workflowName: 'customer-id-map' });
    expect(defaults.data!.idMappingJobs!.edges).toHaveLength(25);

    t.emulator.resetRequests();
    const first = await t.execute(IdMappingJobStatusesDocument, { workflowName: 'customer-id-map', first: 40 });
    const page1 = first.data!.idMappingJobs!;
    expect(page1.edges).toHaveLength(40);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    expect(t.emulator.requests('ListIdMappingJobs')).toBe(2);

    const ids = page1.edges.map((edge) => edge.node.jobId);
    let after = page1.pageInfo.endCursor;
    let hasNextPage = true;
    while (hasNextPage) {
      const next = await t.execute(IdMappingJobStatusesDocument, { workflowName: 'customer-id-map', first: 40, after });
      ids.push(...next.data!.idMappingJobs!.edges.map((edge) => edge.node.jobId));
      ({ hasNextPage, endCursor: after } = next.data!.idMappingJobs!.pageInfo);
    }
    expect(ids).toHaveLength(CUSTOMER_ID_MAP_JOBS);
    expect(new Set(ids).size).toBe(CUSTOMER_ID_MAP_JOBS);
    expect(ids).toContain(seededJobId('customer-id-map', 0));
  });

  test('any edge cursor resumes right after its item, also in the middle of an upstream page', async () => {
    const all = await t.execute(IdMappingJobStatusesDocument, { workflowName: 'customer-id-map', first: 30 });
    const edges = all.data!.idMappingJobs!.edges;
    const resumed = await t.execute(IdMappingJobStatusesDocument, { workflowName: 'customer-id-map', first: 5, after: edges[11].cursor });
    expect(resumed.data!.idMappingJobs!.edges.map((edge) => edge.node.jobId)).toEqual(edges.slice(12, 17).map((edge) => edge.node.jobId));
  });

  test('the last page says hasNextPage false', async () => {
    const { data } = await t.execute(MatchingJobsWithMetricsDocument, { workflowName: 'customer-matching', first: 100 });
    expect(data!.matchingJobs!.nodes.length).toBeGreaterThanOrEqual(5);
    expect(data!.matchingJobs!.pageInfo.hasNextPage).toBe(false);
  });

  test('the jobs of a missing workflow are null with NOT_FOUND', async () => {
    const res = await t.execute(IdMappingJobStatusesDocument, { workflowName: 'no-such-workflow' });
    expect(res.data).toEqual({ idMappingJobs: null });
    expect(codes(res)).toEqual(['NOT_FOUND']);
  });
});

describe('workflows', () => {
  test('idMappingWorkflows and matchingWorkflows list the workflows with their summaries', async () => {
    const idMapping = await t.execute(IdMappingWorkflowsDocument, {});
    expect(idMapping.data!.idMappingWorkflows!.nodes.map((wf) => wf.workflowName)).toEqual(['customer-id-map', 'loyalty-id-map']);
    expect(idMapping.data!.idMappingWorkflows!.nodes[0].workflowArn).toMatch(/:idmappingworkflow\/customer-id-map$/);
    const matching = await t.execute(MatchingWorkflowsDocument, { first: 1 });
    expect(matching.data!.matchingWorkflows!.nodes).toEqual([
      expect.objectContaining({ workflowName: 'address-matching', resolutionType: 'RULE_MATCHING' }),
    ]);
    expect(matching.data!.matchingWorkflows!.pageInfo.hasNextPage).toBe(true);
    const rest = await t.execute(MatchingWorkflowsDocument, { first: 5, after: matching.data!.matchingWorkflows!.pageInfo.endCursor });
    expect(rest.data!.matchingWorkflows!.nodes.map((wf) => wf.workflowName)).toEqual(['customer-matching', 'household-matching']);
  });

  test('a workflow by name has its details and its jobs', async () => {
    const { data } = await t.execute(IdMappingWorkflowDocument, { workflowName: 'loyalty-id-map', first: 2 });
    expect(data!.idMappingWorkflow).toMatchObject({
      workflowName: 'loyalty-id-map',
      description: expect.any(String),
      roleArn: expect.stringMatching(/^arn:aws:iam::/),
      inputSourceConfig: [{ inputSourceArn: expect.stringMatching(/^arn:aws:glue:/), schemaName: 'loyalty-member' }],
      idMappingType: 'PROVIDER',
      incrementalRunType: 'ON_DEMAND',
      jobs: {
        nodes: expect.arrayContaining([{ jobId: seededJobId('loyalty-id-map', 3), status: 'SUCCEEDED' }]),
        pageInfo: { hasNextPage: true },
      },
    });
    expect(t.emulator.requests('GetIdMappingWorkflow')).toBe(1);
    const matching = await t.execute(MatchingWorkflowDocument, { workflowName: 'household-matching', first: 5 });
    // ML_MATCHING takes no incremental runs; the rule-based customer-matching runs on each change (IMMEDIATE).
    expect(matching.data!.matchingWorkflow).toMatchObject({ resolutionType: 'ML_MATCHING', incrementalRunType: null });
    const rules = await t.execute(MatchingWorkflowDocument, { workflowName: 'customer-matching', first: 1 });
    expect(rules.data!.matchingWorkflow).toMatchObject({ resolutionType: 'RULE_MATCHING', incrementalRunType: 'IMMEDIATE' });
    expect(matching.data!.matchingWorkflow!.jobs!.nodes.map((job) => job.status)).toEqual(['FAILED', 'SUCCEEDED']);
  });

  test('an ID-mapping workflow has its rules or provider, input roles, output and tags', async () => {
    const rules = (await t.execute(IdMappingWorkflowDocument, { workflowName: 'customer-id-map', first: 1 })).data!.idMappingWorkflow!;
    expect(rules).toMatchObject({
      inputSourceConfig: [expect.objectContaining({ type: 'SOURCE' }), expect.objectContaining({ type: 'TARGET' })],
      outputSourceConfig: [{ outputS3Path: 's3://er-demo-output/customer-id-map/', kmsArn: null, applyNormalization: null, output: null }],
      ruleBasedProperties: {
        rules: [
          { ruleName: 'email', matchingKeys: ['email'] },
          { ruleName: 'phone-and-name', matchingKeys: ['phone', 'last_name'] },
        ],
        ruleDefinitionType: 'SOURCE',
        attributeMatchingModel: 'ONE_TO_ONE',
        recordMatchingModel: 'ONE_SOURCE_TO_ONE_TARGET',
        matchPurpose: null,
      },
      providerProperties: null,
      tags: [
        { key: 'team', value: 'crm' },
        { key: 'environment', value: 'demo' },
      ],
    });
    const provider = (await t.execute(IdMappingWorkflowDocument, { workflowName: 'loyalty-id-map', first: 1 })).data!.idMappingWorkflow!;
    expect(provider.providerProperties).toEqual({
      providerServiceArn: expect.stringMatching(/:providerservice\//),
      intermediateS3Path: 's3://er-demo-intermediate/loyalty-id-map/',
      providerConfiguration: { clientId: 'demo-client', mappingType: 'RAMP_ID' },
    });
  });

  test('a matching workflow has its rules or rule conditions, output attributes and normalization', async () => {
    const rules = (await t.execute(MatchingWorkflowDocument, { workflowName: 'customer-matching', first: 1 })).data!.matchingWorkflow!;
    expect(rules).toMatchObject({
      inputSourceConfig: [expect.objectContaining({ applyNormalization: true })],
      outputSourceConfig: [
        expect.objectContaining({
          applyNormalization: true,
          output: [
            { name: 'customer_id', hashed: null },
            { name: 'email', hashed: true },
          ],
        }),
      ],
      ruleBasedProperties: {
        attributeMatchingModel: 'MANY_TO_MANY',
        matchPurpose: 'IDENTIFIER_GENERATION',
        rules: expect.arrayContaining([{ ruleName: 'email', matchingKeys: ['email'] }]),
      },
      ruleConditions: null,
    });
    const conditions = (await t.execute(MatchingWorkflowDocument, { workflowName: 'address-matching', first: 1 })).data!.matchingWorkflow!;
    expect(conditions).toMatchObject({
      ruleBasedProperties: null,
      ruleConditions: [{ ruleName: 'same-street', condition: 'Exact(street) AND Exact(postal_code)' }],
      jobs: { nodes: [] },
    });
  });

  test('a workflow by ARN is the same workflow, read by its name (GetMatchingWorkflow takes no ARN)', async () => {
    const arn = 'arn:aws:entityresolution:us-east-1:123456789012:matchingworkflow/customer-matching';
    const { data } = await t.execute(MatchingWorkflowDocument, { workflowName: arn, first: 1 });
    expect(data!.matchingWorkflow!.workflowName).toBe('customer-matching');
  });

  test('details asked of listed workflows cost one Get per workflow', async () => {
    const { data } = await t.execute(WorkflowDetailsFromListDocument, {});
    expect(data!.idMappingWorkflows!.nodes.map((wf) => wf.idMappingType)).toEqual(['RULE_BASED', 'PROVIDER']);
    expect(data!.matchingWorkflows!.nodes.every((wf) => wf.description)).toBe(true);
    expect(t.emulator.requests('GetIdMappingWorkflow')).toBe(2);
    expect(t.emulator.requests('GetMatchingWorkflow')).toBe(3);
  });

  test("an input source's schema mapping: its fields, read once per distinct schema in a request", async () => {
    const query = `{
      idMappingWorkflow(workflowName: "customer-id-map") { inputSourceConfig { schemaName schemaMapping { schemaArn hasWorkflows fields { fieldName type matchKey hashed groupName } tags { key value } } } }
      again: idMappingWorkflow(workflowName: "customer-id-map") { inputSourceConfig { schemaMapping { schemaName } } }
      matchingWorkflow(workflowName: "customer-matching") { inputSourceConfig { schemaMapping { schemaName createdAt } } }
    }`;
    const { data, errors } = await t.post<{
      idMappingWorkflow: {
        inputSourceConfig: {
          schemaName: string;
          schemaMapping: { schemaArn: string; hasWorkflows: boolean; fields: Record<string, unknown>[]; tags: unknown[] };
        }[];
      };
      matchingWorkflow: { inputSourceConfig: { schemaMapping: { schemaName: string; createdAt: string } }[] };
    }>(query);
    expect(errors).toBeUndefined();
    const [crm, loyalty] = data!.idMappingWorkflow.inputSourceConfig;
    expect([crm.schemaName, loyalty.schemaName]).toEqual(['crm-customer', 'loyalty-member']);
    expect(crm.schemaMapping).toMatchObject({
      schemaArn: 'arn:aws:entityresolution:us-east-1:123456789012:schemamapping/crm-customer',
      hasWorkflows: true,
      tags: [{ key: 'team', value: 'crm' }],
    });
    expect(crm.schemaMapping.fields).toContainEqual({
      fieldName: 'email',
      type: 'EMAIL_ADDRESS',
      matchKey: 'email',
      hashed: true,
      groupName: null,
    });
    expect(data!.matchingWorkflow.inputSourceConfig[0].schemaMapping.schemaName).toBe('crm-customer');
    // crm-customer is named three times, loyalty-member once: two Gets.
    expect(t.emulator.requests('GetSchemaMapping')).toBe(2);
  });

  test('schema mappings of listed workflows count 20 per workflow (the most input sources one may have) against the upstream limit', async () => {
    const res = await t.post('{ matchingWorkflows { nodes { workflowName inputSourceConfig { schemaMapping { schemaName } } } } }');
    expect(codes(res)).toEqual(['LIMIT_EXCEEDED']);
    expect(res.errors![0].message).toMatch(/up to 526 calls/);
    expect(t.emulator.requests()).toBe(0);
    const few = await t.post(
      '{ matchingWorkflows(first: 3) { nodes { workflowName inputSourceConfig { schemaMapping { schemaName } } } } }',
    );
    expect(few.errors).toBeUndefined();
  });

  test("a matching workflow's output to Customer Profiles", async () => {
    const { data } = await t.post<{ matchingWorkflow: { outputSourceConfig: unknown[] } }>(
      '{ matchingWorkflow(workflowName: "address-matching") { outputSourceConfig { outputS3Path customerProfilesIntegration { domainArn objectTypeArn } } } }',
    );
    expect(data!.matchingWorkflow.outputSourceConfig).toEqual([
      {
        outputS3Path: 's3://er-demo-output/address-matching/',
        customerProfilesIntegration: {
          domainArn: 'arn:aws:profile:us-east-1:123456789012:domains/demo-customers',
          objectTypeArn: 'arn:aws:profile:us-east-1:123456789012:domains/demo-customers/object-types/Address',
        },
      },
    ]);
  });

  test('a missing workflow is null with NOT_FOUND', async () => {
    const res = await t.execute(IdMappingWorkflowDocument, { workflowName: 'no-such-workflow' });
    expect(res.data).toEqual({ idMappingWorkflow: null });
    expect(codes(res)).toEqual(['NOT_FOUND']);
  });
});
