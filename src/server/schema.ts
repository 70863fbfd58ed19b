import { buildSubgraphSchema, printSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { parse, type GraphQLSchema } from 'graphql';
import { buildSchema, createResolversMap } from 'type-graphql';
import { IdMappingJobResolver } from '../resolvers/id-mapping-job';
import { IdMappingWorkflowResolver } from '../resolvers/id-mapping-workflow';
import { MatchingJobResolver } from '../resolvers/matching-job';
import { MatchingWorkflowResolver } from '../resolvers/matching-workflow';
import { referenceResolvers } from '../resolvers/references';

/** Federation 2.4 is the first the Apollo Router accepts subscriptions from. */
const FEDERATION_LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.4", import: ["@key", "@shareable"])';

/**
 * The gateway's schema: the type-graphql classes, served as a Federation 2
 * subgraph. No resolver knows it is federated; the entity references are
 * added here.
 */
export async function buildGatewaySchema(): Promise<GraphQLSchema> {
  const schema = await buildSchema({
    resolvers: [IdMappingJobResolver, MatchingJobResolver, IdMappingWorkflowResolver, MatchingWorkflowResolver],
    validate: false,
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

/** The subgraph SDL, as committed in schema.graphql and served as `_service { sdl }`. */
export async function printGatewaySchema(): Promise<string> {
  return `${printSubgraphSchema(await buildGatewaySchema())}\n`;
}
