import { credential, GraphQLFailure, rememberCredential, request, subscribe } from './graphql';
import { KINDS, WORKFLOWS } from './operations';
import './style.css';

/**
 * The live dashboard: every workflow with its newest jobs. Each workflow's
 * list is a live list subscription (a job started anywhere appears by
 * itself); each active job is watched for its progress until it ends; a
 * finished job's metrics and error are read once, by global id. It is the
 * reference client for frontend teams, so it uses only the public API.
 */

type Kind = keyof typeof KINDS;

const NEWEST = 5;

interface Job {
  id: string;
  jobId: string;
  status: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  startTime: string;
  endTime?: string | null;
  errorDetails?: { errorMessage?: string | null } | null;
  metrics?: { inputRecords?: number | null; totalRecordsProcessed?: number | null } | null;
}

interface Workflow {
  kind: Kind;
  name: string;
  jobs: Job[];
  element: HTMLElement;
}

const main = document.querySelector('main')!;
const banner = document.querySelector<HTMLElement>('#banner')!;
/** The workflows on the page. */
const shown: Workflow[] = [];
/** What is known of each job beyond its summary, by global id. */
const details = new Map<string, Job>();
/** Jobs whose progress is being watched, by global id. */
const watching = new Set<string>();

const isActive = (job: Job) => job.status === 'QUEUED' || job.status === 'RUNNING';

/** A job as best known: its watched or read detail, unless the list has since seen it end. */
function current(summary: Job): Job {
  const known = details.get(summary.id);
  return !known || (isActive(known) && !isActive(summary)) ? { ...known, ...summary } : { ...summary, ...known };
}

function say(text: string | undefined): void {
  banner.textContent = text ?? '';
  banner.hidden = !text;
}

function onLink(up: boolean): void {
  say(up ? undefined : 'Live updates are reconnecting…');
}

function time(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function jobRow(summary: Job): HTMLElement {
  const job = current(summary);
  const row = element('li', 'job');
  row.dataset.jobId = job.jobId;
  row.append(element('span', `badge ${job.status.toLowerCase()}`, job.status), element('code', 'job-id', job.jobId));
  const times = element('span', 'times', `${time(job.startTime)} → ${time(job.endTime)}`);
  row.append(times);
  const input = job.metrics?.inputRecords;
  const bar = element('progress', 'progress');
  if (input) {
    bar.max = input;
    bar.value = job.metrics?.totalRecordsProcessed ?? 0;
    bar.title = `${bar.value.toLocaleString()} of ${input.toLocaleString()} records processed`;
    if (job.status === 'RUNNING') times.append(element('span', 'count', ` · ${bar.title}`));
  } else if (job.status !== 'QUEUED') {
    bar.value = 0; // no counts; a QUEUED job's bar stays indeterminate
  }
  row.append(bar);
  if (job.status === 'FAILED') row.append(element('p', 'error', job.errorDetails?.errorMessage ?? 'The job failed.'));
  return row;
}

function render(workflow: Workflow): void {
  const list = workflow.element.querySelector('ol')!;
  list.replaceChildren(...workflow.jobs.map(jobRow));
  if (workflow.jobs.length === 0) list.append(element('li', 'empty', 'No jobs yet.'));
  // The service runs one job of each kind at a time in a region: while one runs, no workflow of its kind can start another.
  const kin = shown.filter((other) => other.kind === workflow.kind);
  const busy = kin.some((other) => other.jobs.some((job) => isActive(current(job))));
  for (const other of kin) {
    const button = other.element.querySelector<HTMLButtonElement>('button.start')!;
    button.disabled = busy;
    button.title = busy ? `A ${KINDS[workflow.kind].label.toLowerCase()} job is running: the service runs one at a time in a region.` : '';
  }
}

/** Follows an active job until it ends: its status and progress, from the shared poller. */
function watchJob(workflow: Workflow, job: Job): void {
  if (watching.has(job.id)) return;
  watching.add(job.id);
  subscribe<Record<string, Job>>(
    KINDS[workflow.kind].progress,
    { workflowName: workflow.name, jobId: job.jobId },
    {
      next: ({ job: now }) => {
        details.set(now.id, now);
        render(workflow);
      },
      failed: (err) => say(`${workflow.name} ${job.jobId}: ${err.message}`),
    },
    onLink,
  );
}

/** Metrics and error messages of finished jobs not seen before, in one query by global id. */
async function readFinished(workflow: Workflow): Promise<void> {
  const unread = workflow.jobs.filter((job) => {
    const known = details.get(job.id);
    return !isActive(job) && (!known || isActive(known)); // never read, or read while it ran
  });
  if (unread.length === 0) return;
  const { nodes } = await request<{ nodes: (Job | null)[] }>(KINDS[workflow.kind].finished, { ids: unread.map((job) => job.id) });
  for (const job of nodes) if (job) details.set(job.id, job);
  render(workflow);
}

function follow(workflow: Workflow): void {
  subscribe<Record<string, Job[]>>(
    KINDS[workflow.kind].newest,
    { workflowName: workflow.name, first: NEWEST },
    {
      next: ({ jobs }) => {
        workflow.jobs = jobs;
        render(workflow);
        for (const job of jobs) if (isActive(job)) watchJob(workflow, job);
        readFinished(workflow).catch((err: Error) => say(err.message));
      },
      failed: (err) => say(`${workflow.name}: ${err.message}`),
    },
    onLink,
  );
}

async function start(workflow: Workflow, button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  try {
    // A key per click: if the answer is lost and the click is sent again, no second job starts.
    const { started } = await request<{ started: { job: Job } }>(KINDS[workflow.kind].start, {
      workflowName: workflow.name,
      key: crypto.randomUUID(),
    });
    // Shown at once; the live list confirms it on its next poll.
    if (!workflow.jobs.some((job) => job.id === started.job.id)) workflow.jobs = [started.job, ...workflow.jobs].slice(0, NEWEST);
    render(workflow);
    watchJob(workflow, started.job);
  } catch (err) {
    say(`${workflow.name}: ${(err as Error).message}`);
    button.disabled = false;
  }
}

function section(kind: Kind, name: string): Workflow {
  const box = element('section', 'workflow');
  box.dataset.workflow = name;
  const header = element('header', 'header');
  const button = element('button', 'start', 'Start job');
  header.append(element('h2', 'name', name), element('span', 'kind', KINDS[kind].label), button);
  box.append(header, element('ol', 'jobs'));
  const workflow: Workflow = { kind, name, jobs: [], element: box };
  button.addEventListener('click', () => void start(workflow, button));
  return workflow;
}

/** Asks for an API key or token when the gateway requires one; the page reloads with it. */
function askForCredential(reason: string): void {
  const form = element('form', 'credential');
  const input = element('input', 'secret');
  input.type = 'password';
  input.placeholder = 'API key or JWT';
  input.autocomplete = 'off';
  form.append(element('p', 'reason', reason), input, element('button', 'sign-in', 'Use'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    rememberCredential(input.value);
    location.reload();
  });
  main.replaceChildren(form);
}

async function load(): Promise<void> {
  type Names = { nodes: { workflowName: string }[] };
  let found: { idMappingWorkflows: Names; matchingWorkflows: Names };
  try {
    found = await request(WORKFLOWS);
  } catch (err) {
    if (err instanceof GraphQLFailure && err.code === 'UNAUTHENTICATED') {
      return askForCredential(
        credential() ? `The gateway did not accept that credential: ${err.message}` : 'This gateway needs an API key or a token.',
      );
    }
    throw err;
  }
  const workflows = [
    ...found.idMappingWorkflows.nodes.map(({ workflowName }) => section('idMapping', workflowName)),
    ...found.matchingWorkflows.nodes.map(({ workflowName }) => section('matching', workflowName)),
  ];
  shown.push(...workflows);
  main.replaceChildren(...workflows.map((workflow) => workflow.element));
  for (const workflow of workflows) follow(workflow);
}

load().catch((err: Error) => say(`The dashboard could not load: ${err.message}`));
