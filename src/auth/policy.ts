import picomatch from 'picomatch';
import { z } from 'zod';
import { KMS_ARN, ROLE_ARN, WORKFLOW_NAME, isCanonicalS3Path, isUnderS3Prefix } from '../upstream/patterns';
import { readSettingDocument } from '../settings/files';
import type { Principal } from './principal';

/** What a principal may do to a workflow. */
export const ACTIONS = ['read', 'start', 'subscribe'] as const;
export type Action = (typeof ACTIONS)[number];

const names = z.array(z.string().min(1)).min(1);
const patterns = z
  .array(
    z
      .string()
      .min(1)
      .refine(
        (pattern) => pattern === '*' || WORKFLOW_NAME.test(pattern.replace(/[*?[\]{},!]/g, 'x')),
        'is not a pattern of workflow names',
      ),
  )
  .min(1);

const grantSchema = z
  .object({
    /** Whom the grant is for: a principal matching any one entry gets it. */
    to: z
      .object({
        /** Every principal, anonymous ones included (with ER_AUTH=none, the only kind). */
        anyone: z.literal(true).optional(),
        groups: names.optional(),
        scopes: names.optional(),
        subjects: names.optional(),
        apiKeys: names.optional(),
      })
      .strict()
      .refine((to) => Object.keys(to).length > 0, 'names nobody: give anyone, groups, scopes, subjects or apiKeys'),
    /** Workflow name patterns: `*` any run of characters, `?` one, `{a,b}` either. */
    workflows: patterns,
    actions: z.array(z.enum(ACTIONS)).min(1),
  })
  .strict();

const outputsSchema = z
  .object({
    workflows: patterns,
    /** Roles a start may name for its output. */
    roles: z.array(z.string().regex(ROLE_ARN, 'must be an IAM role ARN')).default([]),
    /** Folders a start may write under: `s3://bucket/prefix/`. */
    s3Prefixes: z
      .array(
        z.string().refine((path) => isCanonicalS3Path(path) && path.endsWith('/'), 'must be an s3://bucket/prefix/ folder ending in /'),
      )
      .default([]),
    /** KMS keys a start may encrypt its output with. */
    kmsKeys: z.array(z.string().regex(KMS_ARN, 'must be a KMS key ARN')).default([]),
  })
  .strict();

const policySchema = z
  .object({
    grants: z.array(grantSchema),
    /** Where starts may write, per workflow; a workflow without an entry writes only to its own configured output. */
    outputs: z.array(outputsSchema).default([]),
  })
  .strict();

export type PolicyDocument = z.input<typeof policySchema>;

/** The output allowed for starts of one workflow. */
export interface AllowedOutputs {
  roles: ReadonlySet<string>;
  s3Prefixes: readonly string[];
  kmsKeys: ReadonlySet<string>;
}

/** What a start asked to write to. */
export interface RequestedOutput {
  roleArn: string;
  outputS3Path: string;
  kmsArn?: string;
}

interface CompiledGrant {
  to: z.infer<typeof grantSchema>['to'];
  matches: (workflowName: string) => boolean;
  /** The grant names `*`, which matches every workflow name (names have no `/`). */
  everyWorkflow: boolean;
  actions: ReadonlySet<Action>;
}

const matcher = (list: string[]) => picomatch(list, { bash: true });

/**
 * Who may read, start and subscribe to which workflows, and where starts may
 * write. Grants only add: what no grant names is refused. Decisions are pure
 * and cheap (patterns are compiled once), and are made by `Access`, the one
 * enforcement point.
 */
export class Policy {
  private readonly grants: CompiledGrant[];
  private readonly outputs: { matches: (workflowName: string) => boolean; allowed: AllowedOutputs }[];

  constructor(document: PolicyDocument) {
    const parsed = policySchema.parse(document);
    this.grants = parsed.grants.map((grant) => ({
      to: grant.to,
      matches: matcher(grant.workflows),
      everyWorkflow: grant.workflows.includes('*'),
      actions: new Set(grant.actions),
    }));
    this.outputs = parsed.outputs.map((entry) => ({
      matches: matcher(entry.workflows),
      allowed: { roles: new Set(entry.roles), s3Prefixes: entry.s3Prefixes, kmsKeys: new Set(entry.kmsKeys) },
    }));
  }

  /** Reads and checks a policy file (YAML or JSON); an error names the file and each entry at fault. */
  static async load(path: string): Promise<Policy> {
    return new Policy(await readSettingDocument('ER_POLICY_FILE', path, policySchema, 'policy'));
  }

  /** With ER_AUTH=none and no policy file: anyone may do anything, and starts write only to each workflow's own output. */
  static openToAnyone(): Policy {
    return new Policy({ grants: [{ to: { anyone: true }, workflows: ['*'], actions: [...ACTIONS] }] });
  }

  /**
   * Whether every principal, anonymous ones included, may read every
   * workflow (a read grant of `*` to anyone): then no list is ever filtered.
   */
  readsEverything(): boolean {
    return this.grants.some((grant) => grant.to.anyone === true && grant.actions.has('read') && grant.everyWorkflow);
  }

  allows(principal: Principal, action: Action, workflowName: string): boolean {
    return this.grants.some((grant) => grant.actions.has(action) && isFor(grant.to, principal) && grant.matches(workflowName));
  }

  /** Where starts of `workflowName` may write: every outputs entry that names it, together. */
  private outputsFor(workflowName: string): AllowedOutputs {
    const entries = this.outputs.filter((entry) => entry.matches(workflowName)).map((entry) => entry.allowed);
    return {
      roles: new Set(entries.flatMap((entry) => [...entry.roles])),
      s3Prefixes: entries.flatMap((entry) => entry.s3Prefixes),
      kmsKeys: new Set(entries.flatMap((entry) => [...entry.kmsKeys])),
    };
  }

  /** Why `output` may not be used for a start of `workflowName`, or undefined when it may. */
  refusesOutput(workflowName: string, output: RequestedOutput): string | undefined {
    const allowed = this.outputsFor(workflowName);
    if (allowed.roles.size === 0 && allowed.s3Prefixes.length === 0) {
      return `Jobs of ${workflowName} write to the workflow's own output only: leave outputSourceConfig out.`;
    }
    if (!allowed.roles.has(output.roleArn)) return `The role ${output.roleArn} is not allowed for jobs of ${workflowName}.`;
    const path = output.outputS3Path;
    if (!isCanonicalS3Path(path) || !allowed.s3Prefixes.some((prefix) => isUnderS3Prefix(path, prefix))) {
      return `The output path ${output.outputS3Path} is not under a folder allowed for jobs of ${workflowName}.`;
    }
    if (output.kmsArn !== undefined && !allowed.kmsKeys.has(output.kmsArn)) {
      return `The KMS key ${output.kmsArn} is not allowed for jobs of ${workflowName}.`;
    }
    return undefined;
  }
}

function isFor(to: CompiledGrant['to'], principal: Principal): boolean {
  if (to.anyone) return true;
  if (principal.kind === 'anonymous') return false;
  return Boolean(
    to.groups?.some((group) => principal.groups.includes(group)) ||
    to.scopes?.some((scope) => principal.scopes.includes(scope)) ||
    (principal.subject !== undefined && to.subjects?.includes(principal.subject)) ||
    (principal.apiKey !== undefined && to.apiKeys?.includes(principal.apiKey)),
  );
}
