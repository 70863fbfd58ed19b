import { Field, ID, InterfaceType } from 'type-graphql';

/**
 * An object with a global id (Relay's object identification): one opaque,
 * stable `id` per job or workflow, which client caches key it by (Apollo
 * Client's default cache keys `__typename` + `id`) and `node(id)` reads back.
 * Resolved values carry `__typename` where the concrete type is not known
 * from the field.
 */
@InterfaceType({
  description: 'An object with a global id: one opaque, stable id per job or workflow, which caches key it by and `node(id)` reads back.',
  resolveType: (value: { __typename?: string }) => value.__typename,
})
export abstract class Node {
  @Field(() => ID, { description: 'Opaque and stable: it names the type and key. Federation keys are `workflowName` and `jobId`.' })
  id!: string;
}
