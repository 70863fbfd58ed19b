import { Ctx, FieldResolver, Resolver, Root } from 'type-graphql';
import { SchemaMapping } from '../schema/schema-mapping';
import { InputSource } from '../schema/workflow';
import type { InputSourceRecord, SchemaMappingRecord } from '../upstream/records';
import type { GatewayContext } from './context';

@Resolver(() => InputSource)
export class InputSourceResolver {
  @FieldResolver(() => SchemaMapping, {
    nullable: true,
    description:
      'The schema mapping the input names (one Get per distinct schema in a request); null when it names none, or with NOT_FOUND when it is gone.',
  })
  schemaMapping(@Root() source: InputSourceRecord, @Ctx() ctx: GatewayContext): Promise<SchemaMappingRecord> | null {
    return source.schemaName ? ctx.loaders.schemaMapping.load(source.schemaName) : null;
  }
}
