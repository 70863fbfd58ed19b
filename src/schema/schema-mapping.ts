import { DateTime } from './date-time';
import { Field, ObjectType } from 'type-graphql';
import { Tag } from './workflow';

@ObjectType({ description: 'A column of an input table, as its schema mapping describes it.', simpleResolvers: true })
export class SchemaField {
  @Field()
  fieldName!: string;

  @Field({ description: "What the column holds, in the service's words: NAME, EMAIL_ADDRESS, PHONE_NUMBER, ADDRESS_STREET1, UNIQUE_ID…" })
  type!: string;

  @Field(() => String, { nullable: true, description: 'Columns matched together (an address of several columns).' })
  groupName?: string;

  @Field(() => String, { nullable: true, description: 'The key rules match this column on.' })
  matchKey?: string;

  @Field(() => String, { nullable: true })
  subType?: string;

  @Field(() => Boolean, { nullable: true, description: 'Whether the column arrives hashed.' })
  hashed?: boolean;
}

@ObjectType({
  description: 'The schema of an input table: its columns and what each holds, named by input sources.',
  simpleResolvers: true,
})
export class SchemaMapping {
  @Field()
  schemaName!: string;

  @Field()
  schemaArn!: string;

  @Field(() => String, { nullable: true })
  description?: string;

  @Field(() => [SchemaField])
  fields!: SchemaField[];

  @Field(() => DateTime)
  createdAt!: Date;

  @Field(() => DateTime)
  updatedAt!: Date;

  @Field(() => [Tag], { nullable: true })
  tags?: Tag[];

  @Field({ description: 'Whether a workflow uses it.' })
  hasWorkflows!: boolean;
}
