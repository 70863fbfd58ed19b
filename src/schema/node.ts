import { Field, ID, InterfaceType } from 'type-graphql';

/** The types a global id can name. */
export const NODE_TYPES = ['IdMappingJob', 'MatchingJob', 'IdMappingWorkflow', 'MatchingWorkflow'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

/**
 * An object with a global id (Relay's object identification): one opaque,
 * stable `id` per job or workflow, which client caches key it by (Apollo
 * Client's default cache keys `__typename` + `id`) and `node(id)` reads back.
 * Resolved values carry `__typename` where the concrete type is not known
 * from the field.
 */
@InterfaceType({
  description: 'An object with a global id: one opaque, stable id per job or workflow, which caches key it by and `node(id)` reads back.',
  resolveType: (value: { __typename?: NodeType }) => value.__typename,
})
export abstract class Node {
  @Field(() => ID, { description: 'Opaque and stable: it names the type and key. Federation keys are `workflowName` and `jobId`.' })
  id!: string;
}
