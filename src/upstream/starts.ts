import type { GraphQLError } from 'graphql';
import type { JobStore } from './job-store';
import { KINDS, type JobKind, type StartedOfKind } from './kinds';
import type { StartJobRequest } from './records';

/**
 * Starts a job of `kind` through `jobs` (a request's view: its policy is
 * asked first, the workflow and then the output asked for). Sent once,
 * retried only when throttled: a failure coded UPSTREAM_UNAVAILABLE means
 * the outcome is unknown (the job may exist). The call is not cut by the
 * request's deadline (the JobStarter answers the request at its deadline
 * and records the outcome when the call ends) but by the store's
 * `startTimeoutMs`, so a start can reach the service only within that time
 * of being sent. Its outcome, the job or the failure's code, is audited.
 */
export async function sendStart<K extends JobKind>(
  jobs: JobStore,
  kind: K,
  workflowName: string,
  request: StartJobRequest,
): Promise<StartedOfKind[K]> {
  const refused = jobs.access?.startRefusal(workflowName, request.outputSourceConfig?.[0]);
  if (refused) throw refused;
  const { names, label, commands, records, startCommandInput } = KINDS[kind];
  try {
    const out = await jobs.callService(
      names.startJob,
      `${label} workflow ${workflowName}`,
      commands.startJob(startCommandInput(workflowName, request)),
      'start',
    );
    const started = records.started(workflowName, out as never) as StartedOfKind[K];
    jobs.access?.recordStart(workflowName, { jobId: started.jobId });
    return started;
  } catch (err) {
    jobs.access?.recordStart(workflowName, { failed: String((err as GraphQLError).extensions?.code ?? 'INTERNAL_SERVER_ERROR') });
    throw err;
  }
}
