import { DirectiveLocation, GraphQLBoolean, GraphQLDirective, GraphQLEnumType, GraphQLInt } from 'graphql';

/**
 * Apollo's `@cacheControl`, declared in the schema so that types can say
 * `inheritMaxAge`: a page of jobs, its edges and the jobs in it are as
 * cacheable as the field that returned them, which the resolver hints (see
 * resolvers/cache-hints.ts). Apollo Server reads it; a router passes the
 * resulting Cache-Control on.
 */
export const cacheControlDirective = new GraphQLDirective({
  name: 'cacheControl',
  locations: [DirectiveLocation.FIELD_DEFINITION, DirectiveLocation.OBJECT, DirectiveLocation.INTERFACE, DirectiveLocation.UNION],
  args: {
    maxAge: { type: GraphQLInt },
    scope: { type: new GraphQLEnumType({ name: 'CacheControlScope', values: { PUBLIC: {}, PRIVATE: {} } }) },
    inheritMaxAge: { type: GraphQLBoolean },
  },
});

/** For `@Directive(...)` on a type whose fields inherit the maxAge of the field that returned it. */
export const INHERIT_MAX_AGE = '@cacheControl(inheritMaxAge: true)';
