import { createHash } from 'node:crypto';
import type { ProviderService, SchemaMapping, IdMappingJobType, Job, Metrics, OutputSource, Workflow } from './model';

/**
 * The demo data every emulator starts with. It is deterministic (fixed dates,
 * job IDs derived from names) so that the README's examples and the tests
 * name the same jobs on every machine.
 */

const ACCOUNT_ROLE = 'arn:aws:iam::123456789012:role/EntityResolutionOutput';
const KMS_KEY = 'arn:aws:kms:us-east-1:123456789012:key/4f1c6a8e-2b7d-4c3e-9a51-6d0e8f7b2c19';
/** 2026-10-01T00:00:00Z, the day the demo history starts. */
const HISTORY_START = Date.UTC(2026, 9, 1);
const HOUR = 3_600_000;

/** The 32-hex-digit job ID of the seeded job `index` of a workflow. */
export function seededJobId(workflowName: string, index: number): string {
  return createHash('md5').update(`${workflowName}#${index}`).digest('hex');
}

function output(workflowName: string, encrypted: boolean): OutputSource[] {
  return [
    {
      roleArn: ACCOUNT_ROLE,
      outputS3Path: `s3://er-demo-output/${workflowName}/`,
      ...(encrypted ? { KMSArn: KMS_KEY } : {}),
    },
  ];
}

/** The 15 ID-mapping metrics of a finished run over `input` records. */
function idMappingMetrics(input: number, jobType: IdMappingJobType, salt: number): Metrics {
  const notProcessed = (salt * 131) % 997;
  const processed = input - notProcessed;
  const deletes = jobType === 'DELETE_ONLY' ? processed : 0;
  const mapped = jobType === 'DELETE_ONLY' ? 0 : Math.floor(processed * 0.82);
  const share = jobType === 'BATCH' ? 1 : 0.12;
  const removed = jobType === 'DELETE_ONLY' ? Math.floor(processed * 0.97) : 0;
  return {
    inputRecords: input,
    totalRecordsProcessed: processed,
    recordsNotProcessed: notProcessed,
    deleteRecordsProcessed: deletes,
    totalMappedRecords: mapped,
    totalMappedSourceRecords: Math.floor(mapped * 0.98),
    totalMappedTargetRecords: Math.floor(mapped * 0.51),
    uniqueRecordsLoaded: Math.floor(processed * 0.93),
    newMappedRecords: Math.floor(mapped * share),
    newMappedSourceRecords: Math.floor(mapped * 0.98 * share),
    newMappedTargetRecords: Math.floor(mapped * 0.51 * share),
    newUniqueRecordsLoaded: Math.floor(processed * 0.93 * share),
    mappedRecordsRemoved: removed,
    mappedSourceRecordsRemoved: Math.floor(removed * 0.98),
    mappedTargetRecordsRemoved: Math.floor(removed * 0.51),
  };
}

function matchingMetrics(input: number, salt: number): Metrics {
  const notProcessed = (salt * 71) % 499;
  const processed = input - notProcessed;
  return {
    inputRecords: input,
    totalRecordsProcessed: processed,
    recordsNotProcessed: notProcessed,
    deleteRecordsProcessed: 0,
    matchIDs: Math.floor(processed * 0.37),
  };
}

/** Metrics a started job grows toward; big enough that progress is visible. */
export function startedJobMetrics(kind: Workflow['kind'], jobType: IdMappingJobType): Metrics {
  return kind === 'idMapping' ? idMappingMetrics(2_000_000, jobType, 7) : matchingMetrics(2_000_000, 7);
}

function workflow(fields: Omit<Workflow, 'createdAt' | 'updatedAt' | 'roleArn' | 'outputS3Path'>): Workflow {
  return {
    createdAt: HISTORY_START - 30 * 24 * HOUR,
    updatedAt: HISTORY_START - 2 * 24 * HOUR,
    roleArn: 'arn:aws:iam::123456789012:role/EntityResolutionWorkflow',
    outputS3Path: `s3://er-demo-output/${fields.workflowName}/`,
    ...fields,
  };
}

export const SEEDED_WORKFLOWS: Workflow[] = [
  workflow({
    kind: 'idMapping',
    workflowName: 'customer-id-map',
    description: 'Maps CRM customer IDs to the loyalty programme, nightly in full.',
    inputSourceConfig: [
      { inputSourceARN: 'arn:aws:glue:us-east-1:123456789012:table/crm/customers', schemaName: 'crm-customer', type: 'SOURCE' },
      { inputSourceARN: 'arn:aws:glue:us-east-1:123456789012:table/loyalty/members', schemaName: 'loyalty-member', type: 'TARGET' },
    ],
    idMappingType: 'RULE_BASED',
    ruleBasedProperties: {
      rules: [
        { ruleName: 'email', matchingKeys: ['email'] },
        { ruleName: 'phone-and-name', matchingKeys: ['phone', 'last_name'] },
      ],
      ruleDefinitionType: 'SOURCE',
      attributeMatchingModel: 'ONE_TO_ONE',
      recordMatchingModel: 'ONE_SOURCE_TO_ONE_TARGET',
    },
    tags: { team: 'crm', environment: 'demo' },
  }),
  workflow({
    kind: 'idMapping',
    workflowName: 'loyalty-id-map',
    description: 'Keeps loyalty members mapped to web accounts as records arrive.',
    inputSourceConfig: [{ inputSourceARN: 'arn:aws:glue:us-east-1:123456789012:table/loyalty/members', schemaName: 'loyalty-member' }],
    idMappingType: 'PROVIDER',
    incrementalRunType: 'ON_DEMAND',
    KMSArn: KMS_KEY,
    providerProperties: {
      providerServiceArn: 'arn:aws:entityresolution:us-east-1::providerservice/LiveRamp/Assignment',
      intermediateSourceConfiguration: { intermediateS3Path: 's3://er-demo-intermediate/loyalty-id-map/' },
      providerConfiguration: { clientId: 'demo-client', mappingType: 'RAMP_ID' },
    },
    tags: { team: 'loyalty' },
  }),
  workflow({
    kind: 'matching',
    workflowName: 'customer-matching',
    description: 'Rule-based matching of customers across CRM and e-commerce.',
    inputSourceConfig: [
      { inputSourceARN: 'arn:aws:glue:us-east-1:123456789012:table/crm/customers', schemaName: 'crm-customer', applyNormalization: true },
    ],
    resolutionType: 'RULE_MATCHING',
    incrementalRunType: 'IMMEDIATE',
    ruleBasedProperties: {
      rules: [
        { ruleName: 'email', matchingKeys: ['email'] },
        { ruleName: 'name-and-address', matchingKeys: ['full_name', 'address'] },
      ],
      attributeMatchingModel: 'MANY_TO_MANY',
      matchPurpose: 'IDENTIFIER_GENERATION',
    },
    output: [{ name: 'customer_id' }, { name: 'email', hashed: true }],
    tags: { team: 'crm' },
  }),
  workflow({
    kind: 'matching',
    workflowName: 'address-matching',
    description: 'Rule-condition matching of postal addresses; no runs yet.',
    inputSourceConfig: [{ inputSourceARN: 'arn:aws:glue:us-east-1:123456789012:table/crm/addresses', schemaName: 'address' }],
    resolutionType: 'RULE_MATCHING',
    ruleConditionProperties: {
      rules: [{ ruleName: 'same-street', condition: 'Exact(street) AND Exact(postal_code)' }],
    },
    customerProfilesIntegrationConfig: {
      domainArn: 'arn:aws:profile:us-east-1:123456789012:domains/demo-customers',
      objectTypeArn: 'arn:aws:profile:us-east-1:123456789012:domains/demo-customers/object-types/Address',
    },
  }),
  workflow({
    kind: 'matching',
    workflowName: 'household-matching',
    description: 'Machine-learning matching of households.',
    inputSourceConfig: [{ inputSourceARN: 'arn:aws:glue:us-east-1:123456789012:table/crm/households', schemaName: 'household' }],
    // ML_MATCHING runs no incremental jobs (the model's documentation): no incrementalRunType.
    resolutionType: 'ML_MATCHING',
  }),
];

/**
 * `count` workflows of `kind` named `prefix-000`, `prefix-001`…, each a plain
 * rule-based one on the CRM customers, with no jobs: for an emulator whose
 * account holds many workflows (EmulatorStateOptions.workflows).
 */
export function namedWorkflows(kind: Workflow['kind'], prefix: string, count: number): Workflow[] {
  return Array.from({ length: count }, (_, i) =>
    workflow({
      kind,
      workflowName: `${prefix}-${String(i).padStart(3, '0')}`,
      inputSourceConfig: [
        {
          inputSourceARN: 'arn:aws:glue:us-east-1:123456789012:table/crm/customers',
          schemaName: 'crm-customer',
          ...(kind === 'idMapping' ? { type: 'SOURCE' as const } : {}),
        },
      ],
      ...(kind === 'idMapping'
        ? {
            idMappingType: 'RULE_BASED' as const,
            ruleBasedProperties: {
              rules: [{ ruleName: 'email', matchingKeys: ['email'] }],
              ruleDefinitionType: 'SOURCE',
              attributeMatchingModel: 'ONE_TO_ONE',
              recordMatchingModel: 'ONE_SOURCE_TO_ONE_TARGET',
            },
          }
        : {
            resolutionType: 'RULE_MATCHING' as const,
            ruleBasedProperties: { rules: [{ ruleName: 'email', matchingKeys: ['email'] }], attributeMatchingModel: 'ONE_TO_ONE' },
          }),
    }),
  );
}

/** customer-id-map's job count: more than four upstream pages. */
export const CUSTOMER_ID_MAP_JOBS = 100;

function customerIdMapJobs(): Job[] {
  const name = 'customer-id-map';
  const jobs: Job[] = [];
  for (let i = 0; i < CUSTOMER_ID_MAP_JOBS; i++) {
    const startTime = HISTORY_START + i * 6 * HOUR;
    const jobType: IdMappingJobType = i % 10 === 5 ? 'DELETE_ONLY' : 'BATCH';
    // Job 98 is the largest, near the model's 32-bit Integer limit; job 97 failed.
    const input = i === 98 ? 2_100_000_000 : 1_000_000 + i * 10_007;
    const failed = i === 97;
    jobs.push({
      kind: 'idMapping',
      workflowName: name,
      jobId: seededJobId(name, i),
      startTime,
      jobType,
      outputSourceConfig: output(name, i % 3 === 0),
      run: failed
        ? {
            status: 'FAILED',
            endTime: startTime + 0.25 * HOUR,
            metrics: { inputRecords: input, totalRecordsProcessed: 0, recordsNotProcessed: input },
            errorMessage: 'Access denied to s3://er-demo-input/crm/customers/part-00042.parquet',
          }
        : { status: 'SUCCEEDED', endTime: startTime + 1.5 * HOUR, metrics: idMappingMetrics(input, jobType, i) },
    });
  }
  return jobs;
}

function loyaltyIdMapJobs(): Job[] {
  const name = 'loyalty-id-map';
  const runs: { jobType: IdMappingJobType; run: Job['run'] }[] = [
    { jobType: 'BATCH', run: { status: 'SUCCEEDED', endTime: HISTORY_START + 3 * HOUR, metrics: idMappingMetrics(4_200_000, 'BATCH', 1) } },
    {
      jobType: 'INCREMENTAL',
      run: { status: 'SUCCEEDED', endTime: HISTORY_START + 50 * HOUR, metrics: idMappingMetrics(180_000, 'INCREMENTAL', 2) },
    },
    {
      jobType: 'INCREMENTAL',
      run: { status: 'SUCCEEDED', endTime: HISTORY_START + 98 * HOUR, metrics: idMappingMetrics(2_000_000_000, 'INCREMENTAL', 3) },
    },
    {
      jobType: 'INCREMENTAL',
      run: { status: 'SUCCEEDED', endTime: HISTORY_START + 147 * HOUR, metrics: idMappingMetrics(240_000, 'INCREMENTAL', 4) },
    },
  ];
  return runs.map(({ jobType, run }, i) => ({
    kind: 'idMapping',
    workflowName: name,
    jobId: seededJobId(name, i),
    startTime: HISTORY_START + i * 48 * HOUR + HOUR,
    jobType,
    outputSourceConfig: output(name, true),
    run,
  }));
}

function matchingJobs(name: string, runs: Job['run'][]): Job[] {
  return runs.map((run, i) => ({
    kind: 'matching',
    workflowName: name,
    jobId: seededJobId(name, i),
    startTime: HISTORY_START + i * 24 * HOUR + 2 * HOUR,
    outputSourceConfig: output(name, i % 2 === 1),
    run,
  }));
}

function finished(hoursAfterStart: number, metrics: Metrics): Job['run'] {
  return { status: 'SUCCEEDED', endTime: HISTORY_START + hoursAfterStart * HOUR, metrics };
}

export function seedJobs(): Job[] {
  return [
    ...customerIdMapJobs(),
    ...loyaltyIdMapJobs(),
    ...matchingJobs('customer-matching', [
      finished(4, matchingMetrics(1_250_000, 1)),
      finished(28, matchingMetrics(1_310_000, 2)),
      {
        status: 'FAILED',
        // It failed a quarter of an hour after it started (at +50 h), not at once.
        endTime: HISTORY_START + 50.25 * HOUR,
        errorMessage: 'Schema mapping crm-customer has no field marked as UNIQUE_ID',
      },
      finished(76, matchingMetrics(1_900_000_000, 4)),
      finished(100, matchingMetrics(1_420_000, 5)),
    ]),
    ...matchingJobs('household-matching', [
      finished(5, matchingMetrics(640_000, 1)),
      { status: 'FAILED', endTime: HISTORY_START + 26.5 * HOUR, errorMessage: 'The input table crm/households has no rows' },
    ]),
  ];
}

const field = (fieldName: string, type: string, matchKey?: string, extra: { groupName?: string; hashed?: boolean } = {}) => ({
  fieldName,
  type,
  ...(matchKey ? { matchKey } : {}),
  ...extra,
});

/** The schema mappings the seeded workflows' input sources name. */
export const SEEDED_SCHEMA_MAPPINGS: SchemaMapping[] = [
  {
    schemaName: 'crm-customer',
    description: 'Customers in the CRM export.',
    mappedInputFields: [
      field('customer_id', 'UNIQUE_ID'),
      field('full_name', 'NAME', 'full_name'),
      field('email', 'EMAIL_ADDRESS', 'email', { hashed: true }),
      field('phone', 'PHONE_NUMBER', 'phone'),
      field('street', 'ADDRESS_STREET1', 'address', { groupName: 'address' }),
      field('postal_code', 'ADDRESS_POSTALCODE', 'address', { groupName: 'address' }),
    ],
    tags: { team: 'crm' },
  },
  {
    schemaName: 'loyalty-member',
    description: 'Loyalty programme members.',
    mappedInputFields: [field('member_id', 'UNIQUE_ID'), field('email', 'EMAIL_ADDRESS', 'email'), field('ramp_id', 'PROVIDER_ID')],
    tags: { team: 'loyalty' },
  },
  {
    schemaName: 'address',
    description: 'Postal addresses.',
    mappedInputFields: [
      field('address_id', 'UNIQUE_ID'),
      field('street', 'ADDRESS_STREET1', 'street'),
      field('postal_code', 'ADDRESS_POSTALCODE', 'postal_code'),
    ],
  },
  {
    schemaName: 'household',
    mappedInputFields: [
      field('household_id', 'UNIQUE_ID'),
      field('surname', 'NAME_LAST', 'surname'),
      field('street', 'ADDRESS_STREET1', 'street'),
    ],
  },
].map((mapping) => ({ createdAt: HISTORY_START - 40 * 24 * HOUR, updatedAt: HISTORY_START - 35 * 24 * HOUR, ...mapping }));

/** The provider services listed in the region; loyalty-id-map runs through the first. */
export const SEEDED_PROVIDER_SERVICES: ProviderService[] = [
  {
    providerName: 'LiveRamp',
    providerServiceName: 'Assignment',
    providerServiceDisplayName: 'LiveRamp Identity Resolution (assignment)',
    providerServiceType: 'ASSIGNMENT',
    marketplaceConfiguration: {
      dataSetId: 'demo-dataset-1',
      revisionId: 'demo-revision-1',
      assetId: 'demo-asset-1',
      listingId: 'demo-listing-1',
    },
    anonymizedOutput: true,
    providerEntityOutputDefinition: { rampId: 'STRING' },
    providerConfigurationDefinition: { required: ['clientId'] },
  },
  {
    providerName: 'LiveRamp',
    providerServiceName: 'Transcoding',
    providerServiceDisplayName: 'LiveRamp transcoding (ID mapping)',
    providerServiceType: 'ID_MAPPING',
    marketplaceConfiguration: {
      dataSetId: 'demo-dataset-2',
      revisionId: 'demo-revision-2',
      assetId: 'demo-asset-2',
      listingId: 'demo-listing-2',
    },
    anonymizedOutput: false,
    providerEntityOutputDefinition: { rampId: 'STRING' },
  },
];
