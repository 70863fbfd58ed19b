/**
 * Every GraphQL document the dashboard sends, whole: the page sends them as
 * they are, and a gateway with trusted documents (ER_TRUSTED_DOCUMENTS)
 * trusts exactly these for it. No DOM here: the server reads this file too.
 */

const SUMMARY = 'id jobId status startTime endTime';
const DETAIL = `${SUMMARY} errorDetails { errorMessage } metrics { inputRecords totalRecordsProcessed }`;

/** The documents of one kind of workflow: the two kinds differ only in field and type names. */
function documents(names: { list: string; updated: string; start: string; type: string }) {
  return {
    /** A workflow's newest jobs, live. */
    newest: `subscription Newest($workflowName: String!, $first: Int!) { jobs: ${names.list}(workflowName: $workflowName, first: $first) { ${SUMMARY} } }`,
    /** One active job until it ends. */
    progress: `subscription Progress($workflowName: String!, $jobId: ID!) { job: ${names.updated}(workflowName: $workflowName, jobId: $jobId) { ${DETAIL} } }`,
    /** A start, with a key per click. */
    start: `mutation Start($workflowName: String!, $key: String!) { started: ${names.start}(input: { workflowName: $workflowName, idempotencyKey: $key }) { job { ${DETAIL} } } }`,
    /** Finished jobs' metrics and errors, by global id. */
    finished: `query Finished($ids: [ID!]!) { nodes(ids: $ids) { ... on ${names.type} { ${DETAIL} } } }`,
  };
}

export const KINDS = {
  idMapping: {
    label: 'ID mapping',
    ...documents({ list: 'idMappingJobsChanged', updated: 'idMappingJobUpdated', start: 'startIdMappingJob', type: 'IdMappingJob' }),
  },
  matching: {
    label: 'Matching',
    ...documents({ list: 'matchingJobsChanged', updated: 'matchingJobUpdated', start: 'startMatchingJob', type: 'MatchingJob' }),
  },
} as const;

export const WORKFLOWS = 'query Workflows { idMappingWorkflows { nodes { workflowName } } matchingWorkflows { nodes { workflowName } } }';

/** All of them, for a trusted documents manifest. */
export const DASHBOARD_DOCUMENTS: string[] = [
  WORKFLOWS,
  ...Object.values(KINDS).flatMap(({ newest, progress, start, finished }) => [newest, progress, start, finished]),
];
