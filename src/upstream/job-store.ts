import {
  GetIdMappingJobCommand,
  GetIdMappingWorkflowCommand,
  GetMatchingJobCommand,
  GetMatchingWorkflowCommand,
  ListIdMappingJobsCommand,
  ListIdMappingWorkflowsCommand,
  ListMatchingJobsCommand,
  ListMatchingWorkflowsCommand,
  StartIdMappingJobCommand,
  StartMatchingJobCommand,
} from '@aws-sdk/client-entityresolution';
import type { UpstreamClients } from './client';
import { mapUpstreamError, type UpstreamAction } from './errors';
import * as map from './mapping';
import type {
  IdMappingJobRecord,
  IdMappingWorkflowRecord,
  JobKey,
  JobSummaryRecord,
  MatchingJobRecord,
  MatchingWorkflowRecord,
  Page,
  PageRequest,
  StartIdMappingJobRequest,
  StartedIdMappingJobRecord,
  WorkflowSummaryRecord,
} from './records';

/** Told of every upstream call once it has ended: `outcome` is `ok` or the error's name. */
export type UpstreamObserver = (operation: string, outcome: string, error?: unknown) => void;

/**
 * The one door to the service: every upstream call of the gateway goes
 * through here, is counted, and fails only with a mapped GraphQL error.
 * Resolvers reach it through per-request loaders; the watcher polls through it.
 */
export class JobStore {
  private readonly client: UpstreamClients['reads'];

  constructor(
    private readonly clients: Pick<UpstreamClients, 'reads' | 'starts'>,
    private readonly observe: UpstreamObserver = () => {},
  ) {
    this.client = clients.reads;
  }

  async getIdMappingJob(key: JobKey): Promise<IdMappingJobRecord> {
    const out = await this.call('GetIdMappingJob', `ID-mapping job ${key.jobId} of workflow ${key.workflowName}`, () =>
      this.client.send(new GetIdMappingJobCommand({ workflowName: key.workflowName, jobId: key.jobId })),
    );
    return map.idMappingJob(key, out);
  }

  async getMatchingJob(key: JobKey): Promise<MatchingJobRecord> {
    const out = await this.call('GetMatchingJob', `Matching job ${key.jobId} of workflow ${key.workflowName}`, () =>
      this.client.send(new GetMatchingJobCommand({ workflowName: key.workflowName, jobId: key.jobId })),
    );
    return map.matchingJob(key, out);
  }

  async listIdMappingJobs(workflowName: string, page: PageRequest): Promise<Page<JobSummaryRecord>> {
    const out = await this.call('ListIdMappingJobs', `The jobs of ID-mapping workflow ${workflowName}`, () =>
      this.client.send(new ListIdMappingJobsCommand({ workflowName, ...page })),
    );
    return { items: (out.jobs ?? []).map((job) => map.jobSummary(workflowName, job)), nextToken: out.nextToken };
  }

  async listMatchingJobs(workflowName: string, page: PageRequest): Promise<Page<JobSummaryRecord>> {
    const out = await this.call('ListMatchingJobs', `The jobs of matching workflow ${workflowName}`, () =>
      this.client.send(new ListMatchingJobsCommand({ workflowName, ...page })),
    );
    return { items: (out.jobs ?? []).map((job) => map.jobSummary(workflowName, job)), nextToken: out.nextToken };
  }

  async getIdMappingWorkflow(workflowName: string): Promise<IdMappingWorkflowRecord> {
    const out = await this.call('GetIdMappingWorkflow', `ID-mapping workflow ${workflowName}`, () =>
      this.client.send(new GetIdMappingWorkflowCommand({ workflowName })),
    );
    return map.idMappingWorkflow(out);
  }

  async getMatchingWorkflow(workflowName: string): Promise<MatchingWorkflowRecord> {
    const out = await this.call('GetMatchingWorkflow', `Matching workflow ${workflowName}`, () =>
      this.client.send(new GetMatchingWorkflowCommand({ workflowName })),
    );
    return map.matchingWorkflow(out);
  }

  async listIdMappingWorkflows(page: PageRequest): Promise<Page<WorkflowSummaryRecord>> {
    const out = await this.call('ListIdMappingWorkflows', 'The list of ID-mapping workflows', () =>
      this.client.send(new ListIdMappingWorkflowsCommand(page)),
    );
    return { items: (out.workflowSummaries ?? []).map(map.workflowSummary), nextToken: out.nextToken };
  }

  async listMatchingWorkflows(page: PageRequest): Promise<Page<WorkflowSummaryRecord>> {
    const out = await this.call('ListMatchingWorkflows', 'The list of matching workflows', () =>
      this.client.send(new ListMatchingWorkflowsCommand(page)),
    );
    return { items: (out.workflowSummaries ?? []).map(map.workflowSummary), nextToken: out.nextToken };
  }

  /**
   * Starts a job. Sent once, retried only when throttled: a failure coded
   * UPSTREAM_UNAVAILABLE means the outcome is unknown (the job may exist).
   */
  async startIdMappingJob(workflowName: string, request: StartIdMappingJobRequest): Promise<StartedIdMappingJobRecord> {
    const outputSourceConfig = request.outputSourceConfig?.map(({ roleArn, outputS3Path, kmsArn }) => ({ roleArn, outputS3Path, KMSArn: kmsArn }));
    const out = await this.call(
      'StartIdMappingJob',
      `ID-mapping workflow ${workflowName}`,
      () => this.clients.starts.send(new StartIdMappingJobCommand({ workflowName, outputSourceConfig, jobType: request.jobType })),
      'start',
    );
    return map.startedIdMappingJob(workflowName, out);
  }

  /** Starts a matching job; as startIdMappingJob, UPSTREAM_UNAVAILABLE means the outcome is unknown. */
  async startMatchingJob(workflowName: string): Promise<JobKey> {
    const out = await this.call(
      'StartMatchingJob',
      `matching workflow ${workflowName}`,
      () => this.clients.starts.send(new StartMatchingJobCommand({ workflowName })),
      'start',
    );
    return { workflowName, jobId: map.required(out.jobId, 'jobId') };
  }

  private async call<T>(operation: string, subject: string, send: () => Promise<T>, action: UpstreamAction = 'read'): Promise<T> {
    try {
      const out = await send();
      this.observe(operation, 'ok');
      return out;
    } catch (err) {
      this.observe(operation, err instanceof Error ? err.name : 'Error', err);
      throw mapUpstreamError(err, subject, action);
    }
  }
}
