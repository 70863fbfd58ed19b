/**
 * Every GraphQL document the dashboard sends, whole: the page sends them as
 * they are, and a gateway with trusted documents (ER_TRUSTED_DOCUMENTS)
 * trusts exactly these for it. No DOM here: the server reads this file too.
 */

/** How many runs a workflow's history chart draws. */
export const HISTORY = 10;

const SUMMARY = 'id jobId status startTime endTime observedAt stale';
const OUTPUT = 'outputSourceConfig { roleArn outputS3Path kmsArn }';
const COMMON_METRICS = 'inputRecords totalRecordsProcessed recordsNotProcessed deleteRecordsProcessed';

/** The documents of one kind of workflow: the two kinds differ in field and type names, ID mapping's job type and the metrics. */
function documents(names: {
  list: string;
  updated: string;
  start: string;
  type: string;
  workflow: string;
  /** What a row shows beyond the summary: the job type, the error, the bar's counts. */
  row: string;
  /** The metrics a detail view draws. */
  metrics: string;
  /** The start mutation's extra variables and input fields. */
  startVariables: string;
  startInput: string;
}) {
  const row = `${SUMMARY} ${names.row} errorDetails { errorMessage } metrics { inputRecords totalRecordsProcessed }`;
  const full = `${SUMMARY} ${names.row} errorDetails { errorMessage } ${OUTPUT} metrics { ${COMMON_METRICS} ${names.metrics} }`;
  return {
    /** A workflow's newest jobs, live. */
    newest: `subscription Newest($workflowName: String!, $first: Int!) { jobs: ${names.list}(workflowName: $workflowName, first: $first) { ${SUMMARY} } }`,
    /** One active job's row until it ends. */
    progress: `subscription Progress($workflowName: String!, $jobId: ID!) { job: ${names.updated}(workflowName: $workflowName, jobId: $jobId) { ${row} } }`,
    /** One job in full for its detail view: now, then each change (stale included) until it ends. */
    detail: `subscription Detail($workflowName: String!, $jobId: ID!) { job: ${names.updated}(workflowName: $workflowName, jobId: $jobId) { ${full} } }`,
    /** A start, with a key per click. */
    start: `mutation Start($workflowName: String!, $key: String!${names.startVariables}) { started: ${names.start}(input: { workflowName: $workflowName, idempotencyKey: $key${names.startInput} }) { job { ${row} } } }`,
    /** Finished jobs' rows, by global id. */
    finished: `query Finished($ids: [ID!]!) { nodes(ids: $ids) { ... on ${names.type} { ${row} } } }`,
    /** The runs a workflow's history chart draws: one list query, which the live list keeps current. */
    history: `query History($workflowName: String!, $first: Int!) { workflow: ${names.workflow}(workflowName: $workflowName) { jobs(first: $first) { nodes { ${row} } } } }`,
  };
}

const ID_MAPPING_METRICS =
  'totalMappedRecords totalMappedSourceRecords totalMappedTargetRecords uniqueRecordsLoaded newMappedRecords newMappedSourceRecords newMappedTargetRecords newUniqueRecordsLoaded mappedRecordsRemoved mappedSourceRecordsRemoved mappedTargetRecordsRemoved';

export const KINDS = {
  idMapping: {
    label: 'ID mapping',
    /** The route's segment: `#/idmapping/<workflow>/<jobId>`. */
    route: 'idmapping',
    ...documents({
      list: 'idMappingJobsChanged',
      updated: 'idMappingJobUpdated',
      start: 'startIdMappingJob',
      type: 'IdMappingJob',
      workflow: 'idMappingWorkflow',
      row: 'jobType',
      metrics: ID_MAPPING_METRICS,
      startVariables: ', $jobType: IdMappingJobType',
      startInput: ', jobType: $jobType',
    }),
  },
  matching: {
    label: 'Matching',
    route: 'matching',
    ...documents({
      list: 'matchingJobsChanged',
      updated: 'matchingJobUpdated',
      start: 'startMatchingJob',
      type: 'MatchingJob',
      workflow: 'matchingWorkflow',
      row: '',
      metrics: 'matchIDs',
      startVariables: '',
      startInput: '',
    }),
  },
} as const;

const PERMISSIONS = 'permissions { read start subscribe }';

/** Who is signed in, and every workflow with what they may do on it (an ID-mapping workflow's run type says which job types it takes). */
export const WORKFLOWS = `query Workflows { entityResolutionViewer { id kind groups } idMappingWorkflows { nodes { workflowName incrementalRunType ${PERMISSIONS} } } matchingWorkflows { nodes { workflowName ${PERMISSIONS} } } }`;

/** All of them, for a trusted documents manifest. */
export const DASHBOARD_DOCUMENTS: string[] = [
  WORKFLOWS,
  ...Object.values(KINDS).flatMap(({ newest, progress, detail, start, finished, history }) => [
    newest,
    progress,
    detail,
    start,
    finished,
    history,
  ]),
];
