import type { GraphQLError } from 'graphql';
import { gatewayError } from '../upstream/errors';
import type { Action, Policy, RequestedOutput } from './policy';
import type { Principal } from './principal';

/** One line of the audit log: every start, allowed or refused, and every refusal of the policy. */
export interface AuditEntry {
  principal: string;
  action: Action;
  workflow: string;
  /** `refused` by the policy; a start `started`, or `failed` upstream (with the error's code). */
  outcome: 'refused' | 'started' | 'failed';
  jobId?: string;
  reason?: string;
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
    if (this.can(action, workflowName)) return undefined;
    return this.refuse(action, workflowName, `You are not allowed to ${VERBS[action]} workflow ${workflowName}.`, 'not granted');
  }

  /** The refusal of a start (the action, then the output it asked for), or undefined when it may go ahead. */
  startRefusal(workflowName: string, output: RequestedOutput | undefined): GraphQLError | undefined {
    const refused = this.refusal('start', workflowName);
    if (refused || !output) return refused;
    const why = this.policy.refusesOutput(workflowName, output);
    return why ? this.refuse('start', workflowName, why, 'output not allowed') : undefined;
  }

  /** Records a start's outcome: the job it launched, or the code it failed with. */
  recordStart(workflowName: string, outcome: { jobId: string } | { failed: string }): void {
    this.audit({
      principal: this.principal.id,
      action: 'start',
      workflow: workflowName,
      ...('jobId' in outcome ? { outcome: 'started', jobId: outcome.jobId } : { outcome: 'failed', reason: outcome.failed }),
    });
  }

  private refuse(action: Action, workflowName: string, message: string, reason: string): GraphQLError {
    this.audit({ principal: this.principal.id, action, workflow: workflowName, outcome: 'refused', reason });
    return gatewayError('FORBIDDEN', message);
  }
}
