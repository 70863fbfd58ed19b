import type { ClassType } from 'type-graphql';
import type { JobKind } from '../upstream/kinds';
import { IdMappingJob, IdMappingJobMetrics, MatchingJob, MatchingJobMetrics } from './job';
import { StartIdMappingJobInput, StartIdMappingJobPayload, StartMatchingJobInput, StartMatchingJobPayload } from './start';
import {
  IdMappingJobConnection,
  IdMappingWorkflow,
  IdMappingWorkflowConnection,
  MatchingJobConnection,
  MatchingWorkflow,
  MatchingWorkflowConnection,
} from './workflow';

/** The GraphQL classes of one kind: its object and connection types, and its start's input and payload. */
export interface KindTypes {
  job: ClassType;
  /** A job's record counts: the one shape of a job that differs by kind (matching's matchIDs, ID mapping's mapped records). */
  jobMetrics: ClassType;
  jobConnection: ClassType;
  workflow: ClassType;
  workflowConnection: ClassType;
  startInput: ClassType;
  startPayload: ClassType;
  /** What the live list says of itself, beyond its name. */
  liveListDescription: string;
  /** `a` or `an`, before the kind's label. */
  article: string;
}

/** The kinds table's GraphQL side: the classes the resolvers of each kind are made over (upstream/kinds.ts has the rest). */
export const KIND_TYPES: Record<JobKind, KindTypes> = {
  idMapping: {
    job: IdMappingJob,
    jobMetrics: IdMappingJobMetrics,
    jobConnection: IdMappingJobConnection,
    workflow: IdMappingWorkflow,
    workflowConnection: IdMappingWorkflowConnection,
    startInput: StartIdMappingJobInput,
    startPayload: StartIdMappingJobPayload,
    liveListDescription:
      "A workflow's newest ID-mapping jobs now, then again whenever a job appears or changes status: a dashboard sees jobs started elsewhere. One List poll per workflow per interval, however many subscribe.",
    article: 'an',
  },
  matching: {
    job: MatchingJob,
    jobMetrics: MatchingJobMetrics,
    jobConnection: MatchingJobConnection,
    workflow: MatchingWorkflow,
    workflowConnection: MatchingWorkflowConnection,
    startInput: StartMatchingJobInput,
    startPayload: StartMatchingJobPayload,
    liveListDescription: "A workflow's newest matching jobs now, then again whenever a job appears or changes status.",
    article: 'a',
  },
};
