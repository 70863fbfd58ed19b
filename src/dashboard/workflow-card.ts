import { historyChart } from './charts';
import { asOf, count, duration, element, isActive, jobRoute, span, type Job, type Kind } from './dom';
import { KINDS } from './operations';

/** What the page holds of one workflow: what the viewer may do, its newest jobs (live) and its history. */
export interface Workflow {
  kind: Kind;
  name: string;
  mayStart: boolean;
  /** ID mapping: the job types its start form offers, the workflow's default first. */
  jobTypes: string[];
  /** The live list's newest jobs, newest first. */
  newest: Job[];
  /** The runs the history chart draws, by global id. */
  history: Map<string, Job>;
  list: 'loading' | 'live' | 'failed';
  /** Why the live list ended, when it failed. */
  listError?: string;
  /** Where the history query is: the rows of finished jobs are read once it has answered (it reads most of them). */
  historyState: 'loading' | 'read' | 'failed';
  /** A start sent and not yet answered. */
  starting: boolean;
  /** The words of the last refusal of a start, shown beside the form until the next try. */
  refusal?: string;
}

/**
 * One workflow's card: its header with Start (only when the viewer may
 * start), the start form, the history chart and the newest jobs. Elements
 * that can hold focus (Start, the form, each job's link) are made once and
 * updated in place, so a keyboard user keeps their place as events arrive.
 */
export class WorkflowCard {
  readonly element = element('section', 'workflow');
  private readonly startButton = element('button', 'start act', 'Start job…');
  private readonly reason = element('p', 'reason');
  private readonly form = element('form', 'start-form');
  private readonly jobType = element('select', 'job-type');
  private readonly confirm = element('button', 'confirm act', 'Start');
  private readonly refusal = element('p', 'refusal');
  private readonly chart = element('div', 'history-slot');
  private readonly state = element('p', 'state');
  private readonly list = element('ol', 'jobs');
  private readonly rows = new Map<string, JobRow>();

  /** Called when the form is sent, with the job type chosen (ID mapping). */
  onStart: (jobType: string | undefined) => void = () => undefined;

  constructor(
    readonly workflow: Workflow,
    private readonly current: (summary: Job) => Job,
  ) {
    const { kind, name } = workflow;
    const slug = `${kind}-${name}`;
    this.element.dataset.workflow = name;
    this.element.setAttribute('aria-labelledby', `${slug}-name`);
    const header = element('header', 'header');
    const title = element('h2', 'name', name);
    title.id = `${slug}-name`;
    header.append(title, element('span', 'kind', KINDS[kind].label));
    this.element.append(header);
    if (workflow.mayStart) {
      const formId = `${slug}-form`;
      this.reason.id = `${slug}-reason`;
      this.startButton.type = 'button';
      this.startButton.setAttribute('aria-expanded', 'false');
      this.startButton.setAttribute('aria-controls', formId);
      this.startButton.setAttribute('aria-describedby', this.reason.id);
      this.startButton.addEventListener('click', () => this.openForm(this.form.hidden));
      header.append(this.startButton);
      this.form.id = formId;
      this.form.hidden = true;
      this.form.setAttribute('aria-label', `Start a job of ${name}`);
      if (kind === 'idMapping') {
        const label = element('label', 'field', 'Job type ');
        for (const type of workflow.jobTypes) this.jobType.append(new Option(type, type));
        label.append(this.jobType);
        this.form.append(label);
      } else {
        this.form.append(element('span', 'note', 'Matching jobs take no job type: the workflow decides.'));
      }
      const cancel = element('button', 'cancel', 'Cancel');
      cancel.type = 'button';
      cancel.addEventListener('click', () => this.openForm(false));
      this.confirm.type = 'submit';
      this.confirm.setAttribute('aria-describedby', this.reason.id);
      this.form.append(this.confirm, cancel);
      this.form.addEventListener('keydown', (event) => {
        if (event.key === 'Escape') this.openForm(false);
      });
      this.form.addEventListener('submit', (event) => {
        event.preventDefault();
        this.onStart(kind === 'idMapping' ? this.jobType.value : undefined);
      });
      this.refusal.setAttribute('role', 'alert');
      this.element.append(this.reason, this.form, this.refusal);
    } else {
      this.element.append(element('p', 'note', 'Read only: your credential may not start jobs of this workflow.'));
    }
    this.state.setAttribute('role', 'status');
    this.element.append(this.chart, this.state, this.list);
  }

  private openForm(open: boolean): void {
    this.form.hidden = !open;
    this.startButton.setAttribute('aria-expanded', String(open));
    if (open) (this.workflow.kind === 'idMapping' ? this.jobType : this.confirm).focus();
    else this.startButton.focus();
  }

  /** Closes the form once a start went through. */
  started(): void {
    if (!this.form.hidden) this.openForm(false);
  }

  /** Draws the card as the workflow now stands; `blocked` says why its start may not be used, if it may not. */
  render(blocked: string | undefined, linkUp: boolean): void {
    const { workflow } = this;
    this.startButton.disabled = this.confirm.disabled = blocked !== undefined;
    this.reason.textContent = blocked ?? '';
    this.reason.hidden = !blocked;
    this.refusal.textContent = workflow.refusal ?? '';
    this.refusal.hidden = !workflow.refusal;

    this.element.dataset.history = workflow.historyState;
    const runs = [...workflow.history.values()].map(this.current);
    this.chart.replaceChildren(...(runs.length ? [historyChart(workflow.name, runs)] : []));

    // While the connection is down that is the news, whatever the list last said (a gateway going away may end it).
    const state = !linkUp
      ? workflow.list === 'loading'
        ? 'Connecting…'
        : 'Reconnecting: these jobs are as last seen.'
      : workflow.list === 'failed'
        ? `The jobs could not be listed: ${workflow.listError ?? 'the gateway refused.'}`
        : workflow.list === 'loading'
          ? 'Loading jobs…'
          : workflow.newest.length === 0
            ? 'No jobs yet.'
            : '';
    this.state.textContent = state;
    this.state.hidden = !state;
    this.state.className = `state ${!linkUp ? 'offline' : workflow.list === 'failed' ? 'failed' : ''}`;

    const seen = new Set<string>();
    const rows = workflow.newest.map((summary) => {
      seen.add(summary.jobId);
      return this.row(this.current(summary));
    });
    for (const jobId of this.rows.keys()) if (!seen.has(jobId)) this.rows.delete(jobId);
    // Moved only when the list changed: moving a row would take focus off its link.
    const same = rows.length === this.list.children.length && rows.every((row, i) => this.list.children[i] === row);
    if (!same) this.list.replaceChildren(...rows);
  }

  private row(job: Job): HTMLLIElement {
    let row = this.rows.get(job.jobId);
    if (!row) {
      row = new JobRow(jobRoute(this.workflow.kind, this.workflow.name, job.jobId), this.workflow.name, job.jobId);
      this.rows.set(job.jobId, row);
    }
    row.show(job);
    return row.element;
  }
}

/** One job's line in a card, its parts made once and updated in place (a focused link stays focused). */
class JobRow {
  readonly element = element('li', 'job');
  private readonly badge = element('span', 'badge');
  private readonly type = element('span', 'job-type');
  private readonly times = element('span', 'times');
  private readonly bar = element('progress', 'progress');
  private readonly meta = element('span', 'meta');
  private readonly error = element('p', 'error');

  constructor(route: string, workflowName: string, jobId: string) {
    const link = element('a', 'job-id');
    link.href = route;
    link.append(element('code', '', jobId));
    link.setAttribute('aria-label', `Job ${jobId} of ${workflowName}: details`);
    const line = element('span', 'line');
    line.append(link, ' ', this.type);
    this.element.dataset.jobId = jobId;
    this.element.append(this.badge, line, this.times, this.bar, this.meta);
  }

  show(job: Job): void {
    this.badge.className = `badge ${job.status.toLowerCase()}`;
    this.badge.textContent = job.status;
    this.type.textContent = job.jobType ?? '';
    this.type.hidden = !job.jobType;
    this.times.textContent = `${span(job)} · ${duration(job)}`;
    const input = job.metrics?.inputRecords;
    const processed = element('span', 'count');
    if (input) {
      this.bar.max = input;
      this.bar.value = job.metrics?.totalRecordsProcessed ?? 0;
      processed.textContent = `${count(this.bar.value)} of ${count(input)} processed · `;
      this.bar.setAttribute('aria-label', processed.textContent);
    } else {
      // No counts yet: a QUEUED job's bar stays indeterminate, any other's empty.
      if (job.status === 'QUEUED') this.bar.removeAttribute('value');
      else this.bar.value = 0;
      this.bar.setAttribute('aria-label', 'No record counts yet');
    }
    this.meta.replaceChildren(processed, asOf(job));
    // Until the job is read (errorDetails unknown), a failed job's row says nothing it may have to take back.
    const why = job.errorDetails === undefined ? undefined : (job.errorDetails?.errorMessage ?? 'The service gave no reason.');
    this.error.textContent = why ?? '';
    if (job.status === 'FAILED' && why) this.element.append(this.error);
    else this.error.remove();
  }
}

/** Whether any job of `workflows` is queued or running. */
export function activeIn(workflows: Workflow[], current: (summary: Job) => Job): Workflow | undefined {
  return workflows.find((workflow) => workflow.newest.some((job) => isActive(current(job))));
}
