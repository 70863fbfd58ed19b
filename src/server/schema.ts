import { buildSubgraphSchema } from '@apollo/subgraph';
import { createPubSub } from '@graphql-yoga/subscription';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { graphql, parse, type GraphQLSchema } from 'graphql';
import { buildSchema, createResolversMap } from 'type-graphql';
// The kinds' resolvers first: fields are declared in the order their classes are made, and that order is the schema's.
import { KIND_RESOLVERS } from '../resolvers/kinds';
import { NodeResolver } from '../resolvers/node';
import { InputSourceResolver } from '../resolvers/input-source';
import { ViewerResolver } from '../resolvers/viewer';
import { referenceResolvers } from '../resolvers/references';
import { cacheControlDirective } from '../schema/cache-control';

/** Federation 2.4 is the first the Apollo Router accepts subscriptions from. */
const FEDERATION_LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.4", import: ["@key", "@shareable"])';

/**
 * The gateway's schema: the type-graphql classes, served as a Federation 2
 * subgraph. No resolver knows it is federated; the entity references are
 * added here.
 */
export async function buildGatewaySchema(): Promise<GraphQLSchema> {
  const schema = await buildSchema({
    resolvers: [...KIND_RESOLVERS, NodeResolver, InputSourceResolver, ViewerResolver],
    // The subscriptions bring their own streams (the JobWatcher); type-graphql wants a PubSub all the same.
    pubSub: createPubSub(),
    validate: false,
    directives: [cacheControlDirective],
  });
  const resolvers = createResolversMap(schema) as GraphQLResolverMap<unknown>;
  for (const [typeName, reference] of Object.entries(referenceResolvers)) {
    // __resolveReference takes (reference, context): a signature the map's type does not model.
    resolvers[typeName] = { ...resolvers[typeName], ...reference } as GraphQLResolverMap<unknown>[string];
  }
  return buildSubgraphSchema({
    typeDefs: parse(`${FEDERATION_LINK}\n\n${printSchemaWithDirectives(schema)}`),
    resolvers,
  });
}

/** The subgraph SDL exactly as served to a router as `_service { sdl }`; schema.graphql holds it. */
export async function printGatewaySchema(): Promise<string> {
  const result = await graphql({ schema: await buildGatewaySchema(), source: '{ _service { sdl } }' });
  const sdl = (result.data as { _service?: { sdl?: string } } | null)?._service?.sdl;
  if (!sdl) throw new Error(`the subgraph did not print its SDL: ${JSON.stringify(result.errors)}`);
  return `${sdl.trimEnd()}\n`;
}
