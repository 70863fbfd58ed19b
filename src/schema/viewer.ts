import { Field, ObjectType, registerEnumType } from 'type-graphql';

export const ViewerKind = { ANONYMOUS: 'ANONYMOUS', TOKEN: 'TOKEN', API_KEY: 'API_KEY' } as const;
export type ViewerKind = (typeof ViewerKind)[keyof typeof ViewerKind];

registerEnumType(ViewerKind, {
  name: 'EntityResolutionViewerKind',
  description: 'How the viewer signed in: ANONYMOUS with authentication off (ER_AUTH=none), TOKEN with a JWT, API_KEY with a key.',
});

@ObjectType('EntityResolutionViewer', {
  description: "Who is asking, as the gateway's policy sees them: what a frontend shows as signed in.",
  simpleResolvers: true,
})
export class Viewer {
  @Field({ description: '`anonymous`, `token:<sub>` or `apiKey:<name>`, as the audit log names the viewer.' })
  id!: string;

  @Field(() => ViewerKind)
  kind!: ViewerKind;

  @Field(() => [String], { description: "A token's groups claim, or an API key's groups." })
  groups!: string[];
}

@ObjectType({
  description:
    'What the viewer may do on a workflow, decided by the same policy that enforces it, at no upstream cost: a frontend offers only these actions. The service may still refuse a permitted start (CONFLICT, LIMIT_EXCEEDED).',
  simpleResolvers: true,
})
export class WorkflowPermissions {
  @Field({ description: 'Read the workflow and its jobs.' })
  read!: boolean;

  @Field({ description: 'Start its jobs.' })
  start!: boolean;

  @Field({ description: 'Subscribe to its jobs and its live list.' })
  subscribe!: boolean;
}
