import {
  EntityResolutionClient,
  GetIdMappingJobCommand,
  GetIdMappingWorkflowCommand,
  GetMatchingJobCommand,
  GetMatchingWorkflowCommand,
  ListIdMappingJobsCommand,
  ListIdMappingWorkflowsCommand,
  ListMatchingJobsCommand,
  ListMatchingWorkflowsCommand,
  GetPolicyCommand,
  GetProviderServiceCommand,
  GetSchemaMappingCommand,
  ListIdNamespacesCommand,
  ListProviderServicesCommand,
  ListSchemaMappingsCommand,
  ListTagsForResourceCommand,
  StartIdMappingJobCommand,
  StartMatchingJobCommand,
} from '@aws-sdk/client-entityresolution';
import { request } from 'node:http';
import { startEmulator, type Emulator } from '../src/emulator/http';
import { OPERATIONS } from '../src/emulator/operations';
import { seededJobId } from '../src/emulator/seed';
import { ManualClock } from './utils/clock';

/**
 * The emulator against the service's Smithy model (aws-sdk-js-v3,
 * codegen/sdk-codegen/aws-models/entityresolution.json), through the real
 * SDK client. SERVED below is the one table of which operations the emulator
 * serves and which of the model's constraints it enforces (the README points
 * here): each row's valid input is answered, and each refused value is a
 * ValidationException before anything is looked up, on a workflow that does
 * not exist too.
 */

const ACCOUNT = '123456789012';
const ID_ARN = `arn:aws:entityresolution:us-east-1:${ACCOUNT}:idmappingworkflow/customer-id-map`;
const MATCHING_ARN = `arn:aws:entityresolution:us-east-1:${ACCOUNT}:matchingworkflow/customer-matching`;
const JOB = seededJobId('customer-id-map', 3);
const PROVIDER_ARN = 'arn:aws:entityresolution:us-east-1::providerservice/LiveRamp/Assignment';
const MATCHING_JOB = seededJobId('customer-matching', 0);
/** Names the model's EntityName refuses: other characters, too long, empty is refused by the SDK itself. */
const NOT_ENTITY_NAMES = ['a=b', 'a+b', 'a/b', 'a.b', 'x'.repeat(256), MATCHING_ARN];

interface Row {
  /** The constraints, in the model's words: what the row proves. */
  enforces: string;
  send(input: Record<string, unknown>): Promise<unknown>;
  valid: Record<string, unknown>;
  /** For each member, values the model refuses. */
  refused: Record<string, unknown[]>;
}

let sdk: EntityResolutionClient;
const send =
  <I>(Command: new (input: I) => never) =>
  (input: Record<string, unknown>) =>
    sdk.send(new Command(input as I));

const SERVED: Record<keyof typeof OPERATIONS, Row> = {
  ListIdMappingWorkflows: {
    enforces: 'maxResults ≤ 25; nextToken NextToken (1–1024, ^[a-zA-Z_0-9-=+/]*$) and issued by this list',
    send: send(ListIdMappingWorkflowsCommand as never),
    valid: { maxResults: 1 },
    refused: { maxResults: [26], nextToken: ['not.a.token', 'x'.repeat(1025), 'bm90LWlzc3VlZA'] },
  },
  GetIdMappingWorkflow: {
    enforces: 'workflowName EntityName (1–255, ^[a-zA-Z_0-9-]*$): no ARN',
    send: send(GetIdMappingWorkflowCommand as never),
    valid: { workflowName: 'customer-id-map' },
    refused: { workflowName: [...NOT_ENTITY_NAMES, ID_ARN] },
  },
  ListIdMappingJobs: {
    enforces: 'workflowName EntityNameOrIdMappingWorkflowArn (no length limit); maxResults 1–25; nextToken NextToken',
    send: send(ListIdMappingJobsCommand as never),
    valid: { workflowName: ID_ARN, maxResults: 25 },
    refused: { workflowName: ['a.b', MATCHING_ARN], maxResults: [0, 26], nextToken: ['not.a.token'] },
  },
  GetIdMappingJob: {
    enforces: 'workflowName EntityNameOrIdMappingWorkflowArn; jobId JobId (^[a-f0-9]{32}$)',
    send: send(GetIdMappingJobCommand as never),
    valid: { workflowName: ID_ARN, jobId: JOB },
    refused: { workflowName: ['a.b', MATCHING_ARN], jobId: ['ABC', JOB.toUpperCase(), `${JOB}0`] },
  },
  StartIdMappingJob: {
    enforces:
      'workflowName EntityNameOrIdMappingWorkflowArn; outputSourceConfig 1–1 items of roleArn RoleArn (32–512), outputS3Path S3Path (≤ 1024), KMSArn KMSArn; jobType enum',
    send: send(StartIdMappingJobCommand as never),
    // No valid start here: starting one is below, where the job it starts is waited out.
    valid: {},
    refused: {
      workflowName: ['a.b', MATCHING_ARN],
      jobType: ['WEEKLY'],
      outputSourceConfig: [
        [],
        [{ roleArn: 'arn:aws:iam::123:role/ErOutput', outputS3Path: 's3://er-output/x/' }],
        [{ roleArn: 'arn:aws-cn:iam::123456789012:role/ErOutput', outputS3Path: 's3://er-output/x/' }],
        [{ roleArn: `arn:aws:iam::${ACCOUNT}:role/ErOutput`, outputS3Path: 's3://My_Bucket/x' }],
        [{ roleArn: `arn:aws:iam::${ACCOUNT}:role/ErOutput`, outputS3Path: 's3://a/' }],
        [{ roleArn: `arn:aws:iam::${ACCOUNT}:role/ErOutput`, outputS3Path: 's3://' }],
        [{ roleArn: `arn:aws:iam::${ACCOUNT}:role/ErOutput`, outputS3Path: `s3://er-output/${'x'.repeat(1010)}` }],
        [{ roleArn: `arn:aws:iam::${ACCOUNT}:role/ErOutput`, outputS3Path: 's3://er-output/x/', KMSArn: 'not-a-kms-arn' }],
      ],
    },
  },
  ListMatchingWorkflows: {
    enforces: 'maxResults ≤ 25; nextToken NextToken',
    send: send(ListMatchingWorkflowsCommand as never),
    valid: { maxResults: 2 },
    refused: { maxResults: [26], nextToken: ['not.a.token'] },
  },
  GetMatchingWorkflow: {
    enforces: 'workflowName EntityName: no ARN',
    send: send(GetMatchingWorkflowCommand as never),
    valid: { workflowName: 'customer-matching' },
    refused: { workflowName: NOT_ENTITY_NAMES },
  },
  ListMatchingJobs: {
    enforces: 'workflowName EntityName; maxResults 1–25; nextToken NextToken',
    send: send(ListMatchingJobsCommand as never),
    valid: { workflowName: 'customer-matching', maxResults: 1 },
    refused: { workflowName: NOT_ENTITY_NAMES, maxResults: [0, 26], nextToken: ['not.a.token'] },
  },
  GetMatchingJob: {
    enforces: 'workflowName EntityName; jobId JobId',
    send: send(GetMatchingJobCommand as never),
    valid: { workflowName: 'customer-matching', jobId: MATCHING_JOB },
    refused: { workflowName: NOT_ENTITY_NAMES, jobId: ['ABC'] },
  },
  StartMatchingJob: {
    enforces: 'workflowName EntityName: no ARN',
    send: send(StartMatchingJobCommand as never),
    valid: {},
    refused: { workflowName: NOT_ENTITY_NAMES },
  },
  GetSchemaMapping: {
    enforces: 'schemaName EntityName',
    send: send(GetSchemaMappingCommand as never),
    valid: { schemaName: 'crm-customer' },
    refused: { schemaName: NOT_ENTITY_NAMES },
  },
  ListSchemaMappings: {
    enforces: 'maxResults ≤ 25; nextToken NextToken',
    send: send(ListSchemaMappingsCommand as never),
    valid: { maxResults: 2 },
    refused: { maxResults: [26], nextToken: ['not.a.token'] },
  },
  ListTagsForResource: {
    enforces: 'resourceArn VeniceGlobalArn (a schema mapping, matching or ID-mapping workflow, or ID namespace)',
    send: send(ListTagsForResourceCommand as never),
    valid: { resourceArn: MATCHING_ARN },
    refused: { resourceArn: ['customer-matching', `arn:aws:entityresolution:us-east-1:${ACCOUNT}:job/x`, 'arn:aws:s3:::bucket'] },
  },
  GetProviderService: {
    enforces: 'providerName EntityName; providerServiceName ProviderServiceArn (20–255): the model names the service by its ARN',
    send: send(GetProviderServiceCommand as never),
    valid: { providerName: 'LiveRamp', providerServiceName: PROVIDER_ARN },
    refused: {
      providerName: ['Live.Ramp'],
      providerServiceName: ['Assignment', 'arn:aws:entityresolution:us-east-1::providerservice/LiveRamp/LiveRamp/Assignment'],
    },
  },
  ListProviderServices: {
    enforces: 'providerName EntityName; maxResults 15–25; nextToken NextToken',
    send: send(ListProviderServicesCommand as never),
    valid: { providerName: 'LiveRamp', maxResults: 15 },
    refused: { providerName: ['Live.Ramp'], maxResults: [14, 26], nextToken: ['not.a.token'] },
  },
};

const clock = new ManualClock();
let emulator: Emulator;

/** The SDK client against `target`, with no retries: each call is one request. */
const clientOf = (target: Emulator) =>
  new EntityResolutionClient({
    endpoint: target.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });

beforeAll(async () => {
  emulator = await startEmulator({ clock: clock.read, jobSeconds: 20, accountId: ACCOUNT });
  sdk = clientOf(emulator);
});

afterAll(async () => {
  sdk.destroy();
  await emulator.close();
});

/** What a call ended with: the error's name, or 'ok'. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (err) {
    return (err as Error).name;
  }
}

test('the table names every operation the emulator serves', () => {
  expect(Object.keys(SERVED).sort()).toEqual(Object.keys(OPERATIONS).sort());
});

describe.each(Object.entries(SERVED))('%s', (operation, row) => {
  const base = { workflowName: 'customer-id-map', ...row.valid };

  if (Object.keys(row.valid).length > 0) {
    test('answers its valid input', async () => {
      expect(await outcome(row.send(row.valid))).toBe('ok');
    });
  }

  test.each(Object.entries(row.refused).flatMap(([member, values]) => values.map((value) => [member, value])))(
    `refuses %s = %j with a ValidationException, before any lookup (${row.enforces})`,
    async (member, value) => {
      const jobsBefore = emulator.state.listJobs('idMapping', 'customer-id-map', 25, undefined).items[0].jobId;
      expect(await outcome(row.send({ ...base, [member as string]: value }))).toBe('ValidationException');
      // On a workflow that does not exist, too: the input is checked first.
      if (member !== 'workflowName' && 'workflowName' in OPERATIONS[operation as keyof typeof OPERATIONS].labels) {
        expect(await outcome(row.send({ ...base, workflowName: 'no-such-workflow', [member as string]: value }))).toBe(
          'ValidationException',
        );
      }
      expect(emulator.state.listJobs('idMapping', 'customer-id-map', 25, undefined).items[0].jobId).toBe(jobsBefore);
    },
  );
});

test('an ARN of another account or region names no workflow; a name past 255 characters is looked up where the model sets no limit', async () => {
  const elsewhere = ID_ARN.replace(ACCOUNT, '210987654321');
  expect(await outcome(sdk.send(new ListIdMappingJobsCommand({ workflowName: elsewhere })))).toBe('ResourceNotFoundException');
  expect(await outcome(sdk.send(new ListIdMappingJobsCommand({ workflowName: ID_ARN.replace('us-east-1', 'eu-west-1') })))).toBe(
    'ResourceNotFoundException',
  );
  expect(await outcome(sdk.send(new GetIdMappingJobCommand({ workflowName: 'x'.repeat(300), jobId: JOB })))).toBe(
    'ResourceNotFoundException',
  );
  expect(await outcome(sdk.send(new ListIdMappingJobsCommand({ workflowName: 'a=b+c/d' })))).toBe('ResourceNotFoundException');
});

test('a start by ARN starts a job on that workflow, with the output source it was given', async () => {
  const output = {
    roleArn: `arn:aws:iam::${ACCOUNT}:role/service-role/ErOutput`,
    outputS3Path: 's3://er-output/jobs/',
    KMSArn: `arn:aws:kms:us-east-1:${ACCOUNT}:key/abc`,
  };
  const started = await sdk.send(new StartIdMappingJobCommand({ workflowName: ID_ARN, outputSourceConfig: [output] }));
  expect(started.outputSourceConfig).toEqual([output]);
  expect(emulator.state.listJobs('idMapping', 'customer-id-map', 1, undefined).items[0].jobId).toBe(started.jobId);
  clock.advance(60_000);
});

test('pages neither repeat nor skip a job when one starts between two fetches', async () => {
  const first = await sdk.send(new ListIdMappingJobsCommand({ workflowName: 'customer-id-map', maxResults: 3 }));
  await sdk.send(new StartIdMappingJobCommand({ workflowName: 'customer-id-map' }));
  clock.advance(60_000);
  const second = await sdk.send(
    new ListIdMappingJobsCommand({ workflowName: 'customer-id-map', maxResults: 3, nextToken: first.nextToken }),
  );
  const all = emulator.state.listJobs('idMapping', 'customer-id-map', 25, undefined).items.map((job) => job.jobId);
  const after = all.indexOf(first.jobs!.at(-1)!.jobId!);
  expect(second.jobs!.map((job) => job.jobId)).toEqual(all.slice(after + 1, after + 4));
  // A token of one list is refused by another.
  expect(await outcome(sdk.send(new ListMatchingJobsCommand({ workflowName: 'customer-matching', nextToken: first.nextToken })))).toBe(
    'ValidationException',
  );
});

/** A request as any HTTP client can send it, past the SDK's own checks. */
function raw(method: string, path: string, body?: string): Promise<{ status: number; type?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${emulator.url}${path}`, { method, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['x-amzn-errortype'] as string | undefined, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('a malformed percent escape or a body of null is a 4xx in the service format, and the emulator keeps serving', async () => {
  expect(await raw('GET', '/idmappingworkflows/%E0%A4%A')).toMatchObject({ status: 400, type: 'ValidationException' });
  expect(await raw('GET', '/matchingworkflows/%ZZ/jobs')).toMatchObject({ status: 400, type: 'ValidationException' });
  for (const body of ['null', '[]', '7', '{not json']) {
    expect(await raw('POST', '/idmappingworkflows/customer-id-map/jobs', body)).toMatchObject({
      status: 400,
      type: 'SerializationException',
    });
  }
  expect(JSON.parse((await raw('GET', '/idmappingworkflows/%E0%A4%A')).body)).toEqual({
    message: expect.stringContaining('percent-encoding'),
  });
  expect(await outcome(sdk.send(new ListIdMappingWorkflowsCommand({})))).toBe('ok');
});

test('operations the emulator does not serve answer UnknownOperationException', async () => {
  expect(await outcome(sdk.send(new ListIdNamespacesCommand({})))).toBe('UnknownOperationException');
  expect(await outcome(sdk.send(new GetPolicyCommand({ arn: ID_ARN })))).toBe('UnknownOperationException');
});

test('schema mappings, tags and provider services answer as the SDK expects them', async () => {
  const schemas = await sdk.send(new ListSchemaMappingsCommand({}));
  expect(schemas.schemaList!.map((schema) => [schema.schemaName, schema.hasWorkflows])).toEqual([
    ['address', true],
    ['crm-customer', true],
    ['household', true],
    ['loyalty-member', true],
  ]);
  const crm = await sdk.send(new GetSchemaMappingCommand({ schemaName: 'crm-customer' }));
  expect(crm).toMatchObject({
    schemaArn: `arn:aws:entityresolution:us-east-1:${ACCOUNT}:schemamapping/crm-customer`,
    hasWorkflows: true,
    tags: { team: 'crm' },
  });
  expect(crm.createdAt).toBeInstanceOf(Date);
  expect(crm.mappedInputFields!.find((field) => field.fieldName === 'email')).toEqual({
    fieldName: 'email',
    type: 'EMAIL_ADDRESS',
    matchKey: 'email',
    hashed: true,
  });
  expect(await outcome(sdk.send(new GetSchemaMappingCommand({ schemaName: 'no-such-schema' })))).toBe('ResourceNotFoundException');

  expect((await sdk.send(new ListTagsForResourceCommand({ resourceArn: crm.schemaArn }))).tags).toEqual({ team: 'crm' });
  expect((await sdk.send(new ListTagsForResourceCommand({ resourceArn: ID_ARN }))).tags).toEqual({ team: 'crm', environment: 'demo' });
  expect(await outcome(sdk.send(new ListTagsForResourceCommand({ resourceArn: ID_ARN.replace(ACCOUNT, '210987654321') })))).toBe(
    'ResourceNotFoundException',
  );

  const providers = await sdk.send(new ListProviderServicesCommand({ providerName: 'LiveRamp' }));
  expect(providers.providerServiceSummaries!.map((service) => [service.providerServiceName, service.providerServiceType])).toEqual([
    ['Assignment', 'ASSIGNMENT'],
    ['Transcoding', 'ID_MAPPING'],
  ]);
  const service = await sdk.send(new GetProviderServiceCommand({ providerName: 'LiveRamp', providerServiceName: PROVIDER_ARN }));
  expect(service).toMatchObject({
    providerServiceArn: PROVIDER_ARN,
    anonymizedOutput: true,
    providerEntityOutputDefinition: { rampId: 'STRING' },
  });
  expect(service.providerEndpointConfiguration?.marketplaceConfiguration?.listingId).toBe('demo-listing-1');
  // The loyalty-id-map workflow names this service.
  const loyalty = await sdk.send(new GetIdMappingWorkflowCommand({ workflowName: 'loyalty-id-map' }));
  expect(loyalty.idMappingTechniques?.providerProperties?.providerServiceArn).toBe(PROVIDER_ARN);
});

describe('one running job per region and kind (ER_EMULATOR_CONCURRENCY=region, the default)', () => {
  test.each([
    ['ExceedsLimitException', { quotaName: 'Concurrent ID mapping jobs', quotaValue: 1 }],
    ['ConflictException', {}],
  ] as const)('a start while a job of another workflow runs is a %s', async (concurrencyError, members) => {
    const regional = await startEmulator({ clock: clock.read, concurrencyError });
    const client = clientOf(regional);
    try {
      // A loyalty-id-map job is running: no ID-mapping job may start anywhere in the region; a matching job may.
      regional.state.holdRunning('idMapping', 'loyalty-id-map');
      expect(await outcome(client.send(new StartMatchingJobCommand({ workflowName: 'customer-matching' })))).toBe('ok');
      const refused = await client.send(new StartIdMappingJobCommand({ workflowName: 'customer-id-map' })).catch((err: Error) => err);
      expect(refused).toMatchObject({ name: concurrencyError, ...members, message: expect.stringContaining('loyalty-id-map') });
      expect(regional.state.listJobs('idMapping', 'customer-id-map', 1, undefined).items[0].jobId).toBe(seededJobId('customer-id-map', 99));
    } finally {
      client.destroy();
      await regional.close();
    }
  });

  test('with ER_EMULATOR_CONCURRENCY=workflow, only a job of the same workflow blocks a start', async () => {
    const perWorkflow = await startEmulator({ clock: clock.read, concurrency: 'workflow' });
    const client = clientOf(perWorkflow);
    try {
      perWorkflow.state.holdRunning('idMapping', 'loyalty-id-map');
      expect(await outcome(client.send(new StartIdMappingJobCommand({ workflowName: 'customer-id-map' })))).toBe('ok');
      expect(await outcome(client.send(new StartIdMappingJobCommand({ workflowName: 'loyalty-id-map' })))).toBe('ConflictException');
    } finally {
      client.destroy();
      await perWorkflow.close();
    }
  });
});

test('the demo data is data the service could return: counts within Integer, provider ARNs of their pattern, no incremental ML matching, failures that took time', () => {
  const INTEGER_MAX = 2 ** 31 - 1;
  const kinds = ['idMapping', 'matching'] as const;
  for (const kind of kinds) {
    for (const workflow of emulator.state.listWorkflows(kind, 25, undefined).items) {
      if (workflow.resolutionType === 'ML_MATCHING' || workflow.resolutionType === 'PROVIDER')
        expect([workflow.workflowName, workflow.incrementalRunType]).toEqual([workflow.workflowName, undefined]);
      const provider = workflow.providerProperties?.providerServiceArn;
      if (provider)
        expect(provider).toMatch(
          /^arn:(aws|aws-us-gov|aws-cn):(entityresolution):([a-z]{2}-[a-z]{1,10}-[0-9])::providerservice\/([a-zA-Z0-9_-]{1,255})\/([a-zA-Z0-9_-]{1,255})$/,
        );
      for (
        let page = emulator.state.listJobs(kind, workflow.workflowName, 25, undefined);
        ;
        page = emulator.state.listJobs(kind, workflow.workflowName, 25, page.nextToken)
      ) {
        for (const job of page.items) {
          for (const [name, count] of Object.entries(job.metrics ?? {}))
            expect([job.jobId, name, count <= INTEGER_MAX]).toEqual([job.jobId, name, true]);
          if (job.status === 'FAILED') expect(job.endTime!).toBeGreaterThan(job.startTime);
        }
        if (!page.nextToken) break;
      }
    }
  }
});
