import { Kind, type DocumentNode, type SelectionSetNode, type ValueNode } from 'graphql';
import { JOB_KINDS, KINDS } from '../upstream/kinds';

/** Told of the starts of an operation refused as a whole, before it ran: its validation failed, or it passed a limit. */
export type RefusedStarts = (workflows: string[], reason: 'invalid_operation' | 'limit_exceeded', limit?: string) => void;

/** The mutations that start jobs: an operation refused as a whole refuses each of them, and each is audited. */
const START_MUTATIONS = new Set<string>(JOB_KINDS.map((kind) => KINDS[kind].names.startMutation));

/**
 * The workflows named by the starts of a mutation (`operationName`'s, or
 * every mutation's when it names none), as the client wrote them: a literal,
 * or a variable's value; `?` when neither says. For the audit of an
 * operation refused before it ran, so that no refused start goes unrecorded.
 */
export function startsIn(
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
): string[] {
  const fragments = new Map(
    document.definitions.flatMap((definition) =>
      definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition.selectionSet] as const] : [],
    ),
  );
  const valueOf = (node: ValueNode | undefined): unknown =>
    node?.kind === Kind.VARIABLE ? variables?.[node.name.value] : node?.kind === Kind.STRING ? node.value : undefined;
  const workflows: string[] = [];
  const seen = new Set<SelectionSetNode>();
  const visit = (selections: SelectionSetNode) => {
    // A fragment spread twice (or in a cycle, which validation refuses) is read once.
    if (seen.has(selections)) return;
    seen.add(selections);
    for (const selection of selections.selections) {
      if (selection.kind === Kind.INLINE_FRAGMENT) visit(selection.selectionSet);
      else if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        if (fragment) visit(fragment);
      } else if (START_MUTATIONS.has(selection.name.value)) {
        const input = selection.arguments?.find((argument) => argument.name.value === 'input')?.value;
        const named =
          input?.kind === Kind.OBJECT
            ? valueOf(input.fields.find((field) => field.name.value === 'workflowName')?.value)
            : (valueOf(input) as { workflowName?: unknown } | undefined)?.workflowName;
        workflows.push(typeof named === 'string' ? named : '?');
      }
    }
  };
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION || definition.operation !== 'mutation') continue;
    if (operationName && definition.name?.value !== operationName) continue;
    visit(definition.selectionSet);
  }
  return workflows;
}
