import { registerEnumType } from 'type-graphql';

/** QUEUED and RUNNING jobs change; SUCCEEDED and FAILED are final. */
export const JobStatus = { QUEUED: 'QUEUED', RUNNING: 'RUNNING', SUCCEEDED: 'SUCCEEDED', FAILED: 'FAILED' } as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

export const IdMappingJobType = { BATCH: 'BATCH', INCREMENTAL: 'INCREMENTAL', DELETE_ONLY: 'DELETE_ONLY' } as const;
export type IdMappingJobType = (typeof IdMappingJobType)[keyof typeof IdMappingJobType];

export const ResolutionType = { RULE_MATCHING: 'RULE_MATCHING', ML_MATCHING: 'ML_MATCHING', PROVIDER: 'PROVIDER' } as const;
export type ResolutionType = (typeof ResolutionType)[keyof typeof ResolutionType];

registerEnumType(JobStatus, { name: 'JobStatus', description: 'Where a job is in its life: SUCCEEDED and FAILED are final.' });
registerEnumType(IdMappingJobType, {
  name: 'IdMappingJobType',
  description: 'BATCH processes all input, INCREMENTAL only what changed since the last run, DELETE_ONLY only deletion requests.',
});
registerEnumType(ResolutionType, { name: 'ResolutionType', description: 'How a matching workflow matches records.' });
