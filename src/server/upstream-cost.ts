import {
  getArgumentValues,
  getNamedType,
  getOperationAST,
  getVariableValues,
  isAbstractType,
  isCompositeType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLError,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import { DEFAULT_PAGE_SIZE } from '../schema/connection';
import { MAX_UPSTREAM_PAGES, UPSTREAM_PAGE_SIZE } from '../resolvers/paging';
import { LOST_START_LOOKUP_JOBS } from '../upstream/job-starter';
import { JOB_KINDS, KINDS } from '../upstream/kinds';
import { limitExceeded } from './client-limits';

export interface UpstreamCostLimits {
  /** An operation whose estimated calls pass this is refused. */
  maxUpstreamCalls: number;
  /** Representations one `_entities` field may name. */
  maxEntities: number;
  /**
   * Whether the policy may leave workflows out of a principal's workflow
   * lists (it grants no one read on `*`): such a list reads pages until it
   * has `first` items it may show, up to the guard's most. @default false
   */
  filteredLists?: boolean;
}

/** The most input sources a workflow has (the model's limit). */
const MAX_INPUT_SOURCES = 20;

/** Each kind's coordinates, as the kinds table names its types and fields. */
const COORDINATES = JOB_KINDS.map((kind) => ({ ...KINDS[kind].names, ...KINDS[kind] }));

/** Fields that fetch one thing by name: one Get each, whose answer has every detail. */
const SINGLE_READS = new Set([
  ...COORDINATES.flatMap((k) => [`Query.${k.jobQuery}`, `Query.${k.workflowQuery}`, `${k.startPayloadType}.job`]),
  'Query.node',
]);
/**
 * Mutations that start a job: a Start each, every alias a start of its own
 * (mutations are never read once for two). With an idempotency key, a start
 * may first look for the job a lost start launched: one List, and a Get per
 * listed job when its input must be compared (ID mapping's).
 */
const STARTS: Record<string, { lookupGets: number }> = Object.fromEntries(
  COORDINATES.map((k) => [`Mutation.${k.startMutation}`, { lookupGets: k.lostStart.reads === 'job' ? LOST_START_LOOKUP_JOBS : 0 }]),
);
/** Lists the policy filters: a principal sees the workflows it may read, each page of the service's holding any number of them. */
const FILTERED_LISTS = new Set(COORDINATES.map((k) => `Query.${k.workflowsQuery}`));
/** Fields that read pages of a list: one List per page; their items are summaries. */
const LIST_READS = new Set(COORDINATES.flatMap((k) => [`Query.${k.jobsQuery}`, `Query.${k.workflowsQuery}`, `${k.workflowType}.jobs`]));
/** Fields that read one more thing for each object they are on: a Get each (a schema mapping; a request reads each name once, the estimate counts each). */
const NESTED_READS = new Set(['InputSource.schemaMapping']);
/** Lists that come whole with their object, at most this many items: a read under each item counts that many times. */
const NESTED_LIST_MAX: Record<string, number> = Object.fromEntries(
  COORDINATES.map((k) => [`${k.workflowType}.inputSourceConfig`, MAX_INPUT_SOURCES]),
);
/** Live lists: one List of `first` jobs per event, each listed job a summary. */
const LIVE_LISTS = new Set(COORDINATES.map((k) => `Subscription.${k.liveList}`));
/**
 * What a list's summary of each type already holds (the kinds table's
 * summary fields, the global id made of them, and a workflow's jobs, which
 * cost their own List); any other field of a listed item costs one Get per item.
 */
const SUMMARY_FIELDS: Record<string, Set<string>> = Object.fromEntries(
  COORDINATES.flatMap((k) => [
    [k.jobType, new Set(['__typename', 'id', ...k.summaryFields.job])],
    [k.workflowType, new Set(['__typename', 'id', ...k.summaryFields.workflow, 'jobs'])],
  ]),
);

/** Whether the objects at hand came whole (a Get) or as list summaries. */
type Source = 'whole' | 'summary';

/** Fields of one selection that read the same thing: the same field with the same arguments, under any alias. */
interface FieldGroup {
  field: GraphQLField<unknown, unknown>;
  args: Record<string, unknown>;
  nodes: FieldNode[];
}

interface Walk {
  schema: GraphQLSchema;
  fragments: Record<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
  limits: UpstreamCostLimits;
  /** `__schema` selections so far: each answers the whole schema. */
  schemaReads: number;
  refusal?: GraphQLError;
}

/**
 * What an operation will ask of the service at worst (nothing cached),
 * counted from its arguments after variables are applied: a Get per single
 * read, per `_entities` representation, and per listed item asked for a
 * detail its summary lacks; a List per page (25 items) of each list, under
 * each parent that has one (a workflow list the policy may filter: the most
 * pages it may read); a Start per start, with what it may read first and
 * what its payload reads. Fields that read the same thing with the same
 * arguments count once, as the request's loaders read them once. A refusal
 * when the estimate passes `maxUpstreamCalls`, `_entities` names more than
 * `maxEntities` representations, or the schema is asked for twice; undefined
 * when the operation may run (bad variables are execution's to report).
 */
export class UpstreamCost {
  /** Verdicts by document, then by variables: clients send the same few operations. */
  private readonly verdicts = new WeakMap<DocumentNode, LRUCache<string, { refusal?: GraphQLError }>>();

  /** @param refused told of each refusal, by the limit reached */
  constructor(
    private readonly schema: GraphQLSchema,
    private readonly limits: UpstreamCostLimits,
    private readonly refused: (limit: string) => void = () => {},
  ) {}

  /** @param counted whether a refusal is told to `refused` (a mere look ahead, which the request's own check follows, is not) */
  refusal(
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Record<string, unknown> | null | undefined,
    counted = true,
  ): GraphQLError | undefined {
    const { refusal } = this.verdict(document, operationName, variables);
    if (refusal && counted) this.refused(String(refusal.extensions.limit));
    return refusal;
  }

  private verdict(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined) {
    let byVariables = this.verdicts.get(document);
    if (!byVariables) {
      byVariables = new LRUCache({ max: 64 });
      this.verdicts.set(document, byVariables);
    }
    const key = `${operationName ?? ''}\u0000${variables ? JSON.stringify(variables) : ''}`;
    let verdict = byVariables.get(key);
    if (!verdict) {
      verdict = this.judge(document, operationName, variables ?? {});
      byVariables.set(key, verdict);
    }
    return verdict;
  }

  private judge(
    document: DocumentNode,
    operationName: string | null | undefined,
    inputs: Record<string, unknown>,
  ): { refusal?: GraphQLError } {
    const operation = getOperationAST(document, operationName);
    if (!operation) return {};
    const coerced = getVariableValues(this.schema, operation.variableDefinitions ?? [], inputs);
    if (coerced.errors) return {};
    const root = this.schema.getRootType(operation.operation);
    if (!root) return {};
    const fragments: Record<string, FragmentDefinitionNode> = {};
    for (const definition of document.definitions)
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
    const walk: Walk = { schema: this.schema, fragments, variables: coerced.coerced, limits: this.limits, schemaReads: 0 };
    const calls = cost(walk, root, [operation.selectionSet], 1, 'whole');
    if (walk.refusal) return { refusal: walk.refusal };
    if (calls > this.limits.maxUpstreamCalls) {
      return {
        refusal: limitExceeded(
          'upstreamCalls',
          this.limits.maxUpstreamCalls,
          `This operation could make up to ${calls} calls to the Entity Resolution service; the limit is ${this.limits.maxUpstreamCalls}. Ask for fewer items (first), fewer lists or fewer details of listed items.`,
        ),
      };
    }
    return {};
  }
}

/** The calls of `selections` made on `count` objects of `type`, which came `source`. */
function cost(walk: Walk, type: GraphQLCompositeType, selections: SelectionSetNode[], count: number, source: Source): number {
  if (walk.refusal || count === 0) return 0;
  if (isAbstractType(type)) {
    // Each possible type gets the selections that apply to it; the count is shared, so the dearest one is what it costs.
    return Math.max(0, ...walk.schema.getPossibleTypes(type).map((possible) => cost(walk, possible, selections, count, source)));
  }
  const groups = collect(walk, type as GraphQLObjectType, selections);
  const summary = SUMMARY_FIELDS[type.name];
  let calls = source === 'summary' && summary && [...groups.values()].some((group) => !summary.has(group.field.name)) ? count : 0;
  for (const group of groups.values()) {
    const name = group.field.name;
    const named = getNamedType(group.field.type);
    const children = group.nodes.flatMap((node) => (node.selectionSet ? [node.selectionSet] : []));
    const coordinate = `${type.name}.${name}`;
    if (name === '_entities') {
      calls += entitiesCost(walk, group, children, count);
    } else if (LIVE_LISTS.has(coordinate) && isCompositeType(named)) {
      const first = typeof group.args.first === 'number' ? group.args.first : 10;
      calls += count * Math.ceil(first / UPSTREAM_PAGE_SIZE) + cost(walk, named, children, count * first, 'summary');
    } else if (coordinate === 'Query.nodes' && isCompositeType(named)) {
      calls += nodesCost(walk, group, named, children, count);
    } else if (STARTS[coordinate] && isCompositeType(named)) {
      calls += count * startsCost(walk, group, named, STARTS[coordinate].lookupGets);
    } else if (SINGLE_READS.has(coordinate)) {
      calls += count + (isCompositeType(named) ? cost(walk, named, children, count, 'whole') : 0);
    } else if (LIST_READS.has(coordinate) && isObjectType(named)) {
      const first = typeof group.args.first === 'number' ? group.args.first : DEFAULT_PAGE_SIZE;
      calls += count * listPages(walk, coordinate, first, group.args.after) + connectionCost(walk, named, children, count * first);
    } else if (NESTED_READS.has(coordinate) && isCompositeType(named)) {
      calls += count + cost(walk, named, children, count, 'whole');
    } else if (isCompositeType(named) && !name.startsWith('__')) {
      // Nested data of an object already read (metrics, output sources) costs nothing more, unless something under it reads.
      calls += cost(walk, named, children, count * (NESTED_LIST_MAX[coordinate] ?? 1), 'whole');
    }
  }
  return calls;
}

/**
 * The upstream pages a connection of `first` items reads at most: one per 25
 * items, and one more when it starts partway through a page (a cursor may
 * name any item). A list the policy filters reads until it has `first` items
 * it may show, so up to the guard's most, whatever `first` is.
 */
function listPages(walk: Walk, coordinate: string, first: number, after: unknown): number {
  if (walk.limits.filteredLists && FILTERED_LISTS.has(coordinate)) return MAX_UPSTREAM_PAGES;
  const partway = after === undefined || after === null ? 0 : 1;
  return Math.min(MAX_UPSTREAM_PAGES, Math.ceil(first / UPSTREAM_PAGE_SIZE) + partway);
}

/**
 * Each start of `group` (one per alias, as each starts a job): the Start,
 * with an idempotency key the lost-start lookup before it (a List and
 * `lookupGets` Gets), and what its payload's selection reads.
 */
function startsCost(walk: Walk, group: FieldGroup, payload: GraphQLCompositeType, lookupGets: number): number {
  const input = group.args.input as { idempotencyKey?: unknown } | undefined;
  const lookup = input?.idempotencyKey === undefined || input.idempotencyKey === null ? 0 : 1 + lookupGets;
  return group.nodes.reduce(
    (calls, node) => calls + 1 + lookup + (node.selectionSet ? cost(walk, payload, [node.selectionSet], 1, 'whole') : 0),
    0,
  );
}

/** A connection's items, asked for through `nodes` and `edges { node }` alike: one set of objects, read once. */
function connectionCost(walk: Walk, connection: GraphQLObjectType, selections: SelectionSetNode[], items: number): number {
  const groups = collect(walk, connection, selections);
  const itemSelections: SelectionSetNode[] = [];
  let itemType: GraphQLCompositeType | undefined;
  for (const group of groups.values()) {
    const nodes = group.field.name === 'nodes' ? group.nodes : group.field.name === 'edges' ? edgeNodes(walk, group) : [];
    for (const node of nodes) if (node.selectionSet) itemSelections.push(node.selectionSet);
    if (nodes.length > 0)
      itemType ??= (group.field.name === 'nodes' ? getNamedType(group.field.type) : edgeNodeType(group)) as GraphQLCompositeType;
  }
  return itemType ? cost(walk, itemType, itemSelections, items, 'summary') : 0;
}

function edgeNodes(walk: Walk, edges: FieldGroup): FieldNode[] {
  const edge = getNamedType(edges.field.type) as GraphQLObjectType;
  const selections = edges.nodes.flatMap((node) => (node.selectionSet ? [node.selectionSet] : []));
  return [...collect(walk, edge, selections).values()].filter((group) => group.field.name === 'node').flatMap((group) => group.nodes);
}

function edgeNodeType(edges: FieldGroup): GraphQLCompositeType {
  const edge = getNamedType(edges.field.type) as GraphQLObjectType;
  return getNamedType(edge.getFields().node.type) as GraphQLCompositeType;
}

/** One Get per representation, each answering the whole entity; past `maxEntities`, refused. */
function entitiesCost(walk: Walk, group: FieldGroup, selections: SelectionSetNode[], count: number): number {
  const representations = Array.isArray(group.args.representations) ? (group.args.representations as { __typename?: unknown }[]) : [];
  if (representations.length > walk.limits.maxEntities) {
    walk.refusal = limitExceeded(
      'entities',
      walk.limits.maxEntities,
      `_entities may name ${walk.limits.maxEntities} representations at once; this one names ${representations.length}.`,
    );
    return 0;
  }
  const byType = new Map<string, number>();
  for (const representation of representations) {
    const typename = String(representation?.__typename);
    byType.set(typename, (byType.get(typename) ?? 0) + 1);
  }
  let calls = count * representations.length;
  for (const [typename, n] of byType) {
    const type = walk.schema.getType(typename);
    if (type && isObjectType(type)) calls += cost(walk, type, selections, count * n, 'whole');
  }
  return calls;
}

/** One Get per id, each answering the whole job or workflow; past `maxEntities` ids, refused as `_entities` is. */
function nodesCost(walk: Walk, group: FieldGroup, type: GraphQLCompositeType, selections: SelectionSetNode[], count: number): number {
  const ids = Array.isArray(group.args.ids) ? group.args.ids.length : 0;
  if (ids > walk.limits.maxEntities) {
    walk.refusal = limitExceeded(
      'entities',
      walk.limits.maxEntities,
      `nodes may name ${walk.limits.maxEntities} ids at once; this one names ${ids}.`,
    );
    return 0;
  }
  return count * ids + cost(walk, type, selections, count * ids, 'whole');
}

/** The fields `selections` ask of an object of `type`, fragments applied, grouped by what they read. */
function collect(walk: Walk, type: GraphQLObjectType, selections: SelectionSetNode[]): Map<string, FieldGroup> {
  const groups = new Map<string, FieldGroup>();
  const fields = type.getFields();
  const visit = (selectionSet: SelectionSetNode, seen: Set<string>) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        // Introspection reads nothing of the service, but each `__schema` answers the whole schema: once is enough.
        if (selection.name.value === '__schema' && ++walk.schemaReads > 1) {
          walk.refusal ??= limitExceeded('schemaReads', 1, 'An operation may ask for the schema (__schema) once.');
        }
        const field = fields[selection.name.value];
        if (!field) continue;
        const args = getArgumentValues(field, selection, walk.variables);
        const key = `${field.name}\u0000${JSON.stringify(args)}`;
        const group = groups.get(key);
        if (group) group.nodes.push(selection);
        else groups.set(key, { field, args, nodes: [selection] });
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (applies(walk, type, selection.typeCondition?.name.value)) visit(selection.selectionSet, seen);
      } else {
        const fragment = walk.fragments[selection.name.value];
        if (fragment && !seen.has(fragment.name.value) && applies(walk, type, fragment.typeCondition.name.value)) {
          visit(fragment.selectionSet, new Set(seen).add(fragment.name.value));
        }
      }
    }
  };
  for (const selectionSet of selections) visit(selectionSet, new Set());
  return groups;
}

/** Whether a fragment on `condition` applies to an object of `type`. */
function applies(walk: Walk, type: GraphQLObjectType, condition: string | undefined): boolean {
  if (condition === undefined || condition === type.name) return true;
  const conditionType = walk.schema.getType(condition);
  return conditionType !== undefined && isAbstractType(conditionType) && walk.schema.isSubType(conditionType, type);
}
