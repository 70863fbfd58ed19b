import type { GraphQLError } from 'graphql';
import { asRefusal, gatewayError, refusalReason, type RefusalReason } from '../upstream/errors';
import type { Action, Policy, RequestedOutput } from './policy';
import type { Principal } from './principal';

/** One line of the audit log: every start, whether it started, failed or was refused (and by what), and every refusal of the policy. */
export interface AuditEntry {
  principal: string;
  action: Action;
  workflow: string;
  /** `refused` by the gateway before anything reached the service (see `reason`); a start `started`, or `failed` at the service (with the error's code). */
  outcome: 'refused' | 'started' | 'failed';
  jobId?: string;
  /** Why: a refusal's code (see RefusalReason), or the code a failed start got. */
  reason?: string;
  /** With `limit_exceeded`: which limit. */
  limit?: string;
  /** With `invalid_input`: the input field at fault. */
  field?: string;
}

export type AuditSink = (entry: AuditEntry) => void;

const VERBS: Record<Action, string> = { read: 'read', start: 'start jobs of', subscribe: 'subscribe to jobs of' };

/**
 * One principal's view of the policy: the one enforcement point. The
 * request's view of the JobStore asks it before every read, list and start,
 * and the JobWatcher before every subscription, so every path (queries,
 * lists, `_entities`, mutations, subscriptions) obeys the same decisions.
 * A refusal is a FORBIDDEN error, made before any upstream call, and is
 * written to the audit log; it says nothing of whether the workflow exists.
 */
export class Access {
  constructor(
    readonly principal: Principal,
    private readonly policy: Policy,
    private readonly audit: AuditSink,
  ) {}

  can(action: Action, workflowName: string): boolean {
    return this.policy.allows(this.principal, action, workflowName);
  }

  /** The refusal when the principal may not `action` the workflow (audited), or undefined when it may. */
  refusal(action: Action, workflowName: string): GraphQLError | undefined {
    const refused = this.policyRefusal(action, workflowName);
    if (refused)
      this.audit({ principal: this.principal.id, action, workflow: workflowName, outcome: 'refused', reason: refusalReason(refused) });
    return refused;
  }

  /** The refusal of a start by the policy (the action, then the output it asked for), or undefined when it may go ahead; audited with the start. */
  startRefusal(workflowName: string, output: RequestedOutput | undefined): GraphQLError | undefined {
    const refused = this.policyRefusal('start', workflowName);
    if (refused || !output) return refused;
    const why = this.policy.refusesOutput(workflowName, output);
    return why ? asRefusal(gatewayError('FORBIDDEN', why), 'output_not_allowed') : undefined;
  }

  /**
   * Runs a start, auditing it when the gateway refuses it, whatever refused
   * it: `check` throwing is bad input (`invalid_input`, with the field); an
   * error marked by asRefusal (the policy, the idempotency key) says its own
   * reason. A start that reached the service is audited where it was sent
   * (recordStart), once, so a repeat answered from its idempotency key writes
   * no second `started`. `workflow` is what the client named, even when
   * `check` finds it malformed.
   */
  async start<A, R>(workflow: string, check: () => A, run: (checked: A) => Promise<R>): Promise<R> {
    let checked: A;
    try {
      checked = check();
    } catch (err) {
      const field = (err as GraphQLError).extensions?.field;
      this.refusedStart(workflow, 'invalid_input', typeof field === 'string' ? { field } : {});
      throw err;
    }
    try {
      return await run(checked);
    } catch (err) {
      const reason = refusalReason(err);
      if (reason) this.refusedStart(workflow, reason);
      throw err;
    }
  }

  /** Records the outcome of a start sent to the service: the job it launched, or the code it failed with. */
  recordStart(workflowName: string, outcome: { jobId: string } | { failed: string }): void {
    this.audit({
      principal: this.principal.id,
      action: 'start',
      workflow: workflowName,
      ...('jobId' in outcome ? { outcome: 'started', jobId: outcome.jobId } : { outcome: 'failed', reason: outcome.failed }),
    });
  }

  /** Audits a start the gateway refused before it reached the service; `detail` names the limit or field at fault. */
  refusedStart(workflow: string, reason: RefusalReason, detail: { limit?: string; field?: string } = {}): void {
    this.audit({ principal: this.principal.id, action: 'start', workflow, outcome: 'refused', reason, ...detail });
  }

  private policyRefusal(action: Action, workflowName: string): GraphQLError | undefined {
    if (this.can(action, workflowName)) return undefined;
    return asRefusal(gatewayError('FORBIDDEN', `You are not allowed to ${VERBS[action]} workflow ${workflowName}.`), 'not_granted');
  }
}
