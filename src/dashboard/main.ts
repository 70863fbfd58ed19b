import { showJob } from './detail';
import { element, isActive, parseRoute, type Job, type Kind } from './dom';
import { credential, forgetCredential, GraphQLFailure, rememberCredential, request, subscribe, watchLink } from './graphql';
import { HISTORY, KINDS, WORKFLOWS } from './operations';
import { activeIn, WorkflowCard, type Workflow } from './workflow-card';
import './style.css';

/**
 * The live dashboard: every workflow the viewer may read, with what they may
 * do on it, its run history and its newest jobs, and a view of each job of
 * its own. Each workflow's list is a live list subscription (a job started
 * anywhere appears by itself); each active job is watched until it ends;
 * finished jobs are read once, by global id. It is the reference client for
 * frontend teams, so it uses only the public API.
 */

const NEWEST = 5;

interface Viewer {
  id: string;
  kind: 'ANONYMOUS' | 'TOKEN' | 'API_KEY';
  groups: string[];
}

interface Listed {
  workflowName: string;
  incrementalRunType?: string | null;
  permissions: { read: boolean; start: boolean; subscribe: boolean };
}

const main = document.querySelector('main')!;
const banner = document.querySelector<HTMLElement>('#banner')!;
const who = document.querySelector<HTMLElement>('#who')!;
const listView = element('div', 'workflows');
const cards: WorkflowCard[] = [];
/** What is known of each job beyond its summary, by global id. */
const details = new Map<string, Job>();
/** Jobs whose progress is being watched, by global id. */
const watching = new Set<string>();
let linkUp = false;
let leaveDetail: (() => void) | undefined;

/** A job as best known: its watched or read detail, unless the list has since seen it end. */
function current(summary: Job): Job {
  const known = details.get(summary.id);
  return !known || (isActive(known) && !isActive(summary)) ? { ...known, ...summary } : { ...summary, ...known };
}

let everUp = false;
/** The last thing the page had to say (a failed read), shown unless the connection is lost, which says more. */
let notice: string | undefined;

function showBanner(): void {
  const text = everUp && !linkUp ? 'Reconnecting to the gateway… Live updates and actions resume when it is back.' : notice;
  banner.textContent = text ?? '';
  banner.hidden = !text;
}

function say(text: string | undefined): void {
  notice = text;
  showBanner();
}

/** Why a workflow's start may not be used now: the connection, a start in flight, or a job of its kind running in the region. */
function blocker(workflow: Workflow): string | undefined {
  if (!linkUp) return everUp ? 'Reconnecting to the gateway: starts wait until it is back.' : 'Connecting to the gateway…';
  if (workflow.starting) return 'Starting…';
  const running = activeIn(
    cards.map((card) => card.workflow).filter((other) => other.kind === workflow.kind),
    current,
  );
  if (running) {
    const label = workflow.kind === 'idMapping' ? 'An ID-mapping' : 'A matching';
    return `${label} job is running on ${running.name}: the service runs one of a kind at a time in a region.`;
  }
  return undefined;
}

function renderAll(): void {
  for (const card of cards) card.render(card.workflow.mayStart ? blocker(card.workflow) : undefined, linkUp);
}

/** Live lists that ended with an error, followed again when the connection is next back (a gateway going away may end them so). */
const lost = new Set<Workflow>();

watchLink((up) => {
  if (up === linkUp) return;
  linkUp = up;
  if (up) {
    everUp = true;
    // What failed while the gateway was away is old news once it is back.
    notice = undefined;
    for (const workflow of lost) follow(workflow);
    lost.clear();
  }
  showBanner();
  document.body.classList.toggle('offline', !up);
  renderAll();
});

/** Keeps a job in the workflow's history: the newest HISTORY runs. */
function remember(workflow: Workflow, job: Job): void {
  workflow.history.set(job.id, job);
  const newestFirst = [...workflow.history.values()].sort((a, b) => Date.parse(b.startTime) - Date.parse(a.startTime));
  for (const old of newestFirst.slice(HISTORY)) workflow.history.delete(old.id);
}

/** Follows an active job until it ends: its status and progress, from the shared poller. */
function watchJob(workflow: Workflow, job: Job): void {
  if (watching.has(job.id)) return;
  watching.add(job.id);
  subscribe<{ job: Job }>(
    KINDS[workflow.kind].progress,
    { workflowName: workflow.name, jobId: job.jobId },
    {
      next: ({ job: now }) => {
        details.set(now.id, now);
        renderAll();
      },
      failed: (err) => {
        // The next list event watches it again if it is still active.
        watching.delete(job.id);
        say(`${workflow.name} ${job.jobId}: ${err.message}`);
      },
    },
  );
}

/** Rows of finished jobs not read since they ended (metrics, job type, error), in one query by global id. */
async function readFinished(workflow: Workflow): Promise<void> {
  const unread = workflow.newest.filter((job) => {
    const known = details.get(job.id);
    return !isActive(job) && (!known || isActive(known)); // never read, or read while it ran
  });
  if (unread.length === 0) return;
  const { nodes } = await request<{ nodes: (Job | null)[] }>(KINDS[workflow.kind].finished, { ids: unread.map((job) => job.id) });
  for (const job of nodes) if (job) details.set(job.id, job);
  renderAll();
}

/** The workflow's last runs, once; the live list adds the ones that start later. */
async function readHistory(workflow: Workflow): Promise<void> {
  type Answer = { workflow: { jobs: { nodes: Job[] } } | null };
  const { workflow: found } = await request<Answer>(KINDS[workflow.kind].history, { workflowName: workflow.name, first: HISTORY });
  for (const job of found?.jobs.nodes ?? []) {
    if (!details.has(job.id) || !isActive(job)) details.set(job.id, { ...details.get(job.id), ...job });
    remember(workflow, job);
  }
  workflow.historyState = 'read';
  renderAll();
}

function follow(workflow: Workflow): void {
  subscribe<{ jobs: Job[] }>(
    KINDS[workflow.kind].newest,
    { workflowName: workflow.name, first: NEWEST },
    {
      next: ({ jobs }) => {
        workflow.newest = jobs;
        workflow.list = 'live';
        for (const job of jobs) remember(workflow, job);
        renderAll();
        for (const job of jobs) if (isActive(job)) watchJob(workflow, job);
        // Until the history has answered, it reads these too: one query, not two.
        if (workflow.historyState !== 'loading') readFinished(workflow).catch((err: Error) => say(err.message));
      },
      failed: (err) => {
        workflow.list = 'failed';
        workflow.listError = err.message;
        lost.add(workflow);
        renderAll();
      },
    },
  );
}

/** A refusal in words: what the code means for the person at the page, then the gateway's own explanation. */
function refusalText(err: unknown): string {
  if (!(err instanceof GraphQLFailure)) return `Not started: the gateway could not be reached (${(err as Error).message}).`;
  switch (err.code) {
    case 'CONFLICT':
      return `Not started: another job blocks this one. ${err.message}`;
    case 'LIMIT_EXCEEDED': {
      const { quotaName, quotaValue } = err.extensions ?? {};
      const quota = quotaName ? ` The quota "${quotaName}" is ${String(quotaValue)}.` : '';
      return `Not started: a limit was reached.${quota} ${err.message}`;
    }
    case 'FORBIDDEN':
      return `Not started: you are not allowed to start this job. ${err.message}`;
    default:
      return `Not started: ${err.message}`;
  }
}

async function start(card: WorkflowCard, jobType: string | undefined): Promise<void> {
  const { workflow } = card;
  workflow.starting = true;
  workflow.refusal = undefined;
  renderAll();
  try {
    // A key per click: if the answer is lost and the click is sent again, no second job starts.
    const { started } = await request<{ started: { job: Job } }>(KINDS[workflow.kind].start, {
      workflowName: workflow.name,
      key: crypto.randomUUID(),
      ...(jobType ? { jobType } : {}),
    });
    // Shown at once; the live list confirms it on its next poll.
    details.set(started.job.id, started.job);
    if (!workflow.newest.some((job) => job.id === started.job.id)) workflow.newest = [started.job, ...workflow.newest].slice(0, NEWEST);
    remember(workflow, started.job);
    card.started();
    watchJob(workflow, started.job);
  } catch (err) {
    workflow.refusal = refusalText(err);
  } finally {
    workflow.starting = false;
    renderAll();
  }
}

function card(kind: Kind, listed: Listed): WorkflowCard {
  // The service takes INCREMENTAL only from a workflow set to run incrementally, and then defaults to it.
  const jobTypes =
    kind === 'idMapping' ? (listed.incrementalRunType ? ['INCREMENTAL', 'BATCH', 'DELETE_ONLY'] : ['BATCH', 'DELETE_ONLY']) : [];
  const workflow: Workflow = {
    kind,
    name: listed.workflowName,
    mayStart: listed.permissions.start,
    jobTypes,
    newest: [],
    history: new Map(),
    list: 'loading',
    historyState: 'loading',
    starting: false,
  };
  const made = new WorkflowCard(workflow, current);
  made.onStart = (jobType) => void start(made, jobType);
  return made;
}

/** The job view last shown, to give focus back to its link on the way back to the list. */
let lastJobRoute: string | undefined;

/** Shows the list or a job's own view, as the address says. */
function route(): void {
  leaveDetail?.();
  leaveDetail = undefined;
  const job = parseRoute(location.hash);
  if (job) {
    lastJobRoute = location.hash;
    leaveDetail = showJob(main, job);
    return;
  }
  main.replaceChildren(listView);
  if (lastJobRoute) listView.querySelector<HTMLElement>(`a[href="${CSS.escape(lastJobRoute)}"]`)?.focus();
}

function showViewer(viewer: Viewer): void {
  if (viewer.kind === 'ANONYMOUS') {
    who.replaceChildren(element('span', 'viewer', 'Authentication is off: anyone may use this page.'));
    return;
  }
  const signOut = element('button', 'sign-out', 'Sign out');
  signOut.type = 'button';
  signOut.addEventListener('click', () => {
    forgetCredential();
    location.reload();
  });
  const name = element('span', 'viewer');
  name.append('Signed in as ', element('strong', '', viewer.id));
  const groups = element('span', 'groups', viewer.groups.length ? `groups: ${viewer.groups.join(', ')}` : 'no groups');
  who.replaceChildren(name, groups, signOut);
}

/** Asks for an API key or token when the gateway requires one; the page reloads with it. */
function askForCredential(reason: string): void {
  const form = element('form', 'credential');
  form.setAttribute('aria-labelledby', 'sign-in-title');
  const title = element('h2', '', 'Sign in');
  title.id = 'sign-in-title';
  const label = element('label', 'field', 'API key or token (JWT)');
  const input = element('input', 'secret');
  input.type = 'password';
  input.required = true;
  input.autocomplete = 'off';
  label.append(input);
  const button = element('button', 'sign-in', 'Sign in');
  button.type = 'submit';
  form.append(title, element('p', 'reason', reason), label, button, element('p', 'note', 'It is kept for this browser tab only.'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    rememberCredential(input.value);
    location.reload();
  });
  main.replaceChildren(form);
  input.focus();
}

async function load(): Promise<void> {
  type Found = { entityResolutionViewer: Viewer; idMappingWorkflows: { nodes: Listed[] }; matchingWorkflows: { nodes: Listed[] } };
  let found: Found;
  try {
    found = await request<Found>(WORKFLOWS);
  } catch (err) {
    if (err instanceof GraphQLFailure && err.code === 'UNAUTHENTICATED') {
      return askForCredential(
        credential() ? `The gateway did not accept that credential: ${err.message}` : 'This gateway needs an API key or a token.',
      );
    }
    throw err;
  }
  showViewer(found.entityResolutionViewer);
  cards.push(
    ...found.idMappingWorkflows.nodes.map((listed) => card('idMapping', listed)),
    ...found.matchingWorkflows.nodes.map((listed) => card('matching', listed)),
  );
  listView.replaceChildren(...cards.map((one) => one.element));
  if (cards.length === 0) listView.append(element('p', 'state', 'There are no workflows you may read.'));
  renderAll();
  addEventListener('hashchange', route);
  route();
  for (const one of cards) {
    follow(one.workflow);
    const { workflow } = one;
    readHistory(workflow)
      .catch((err: Error) => {
        workflow.historyState = 'failed';
        say(`${workflow.name}: its history could not be read: ${err.message}`);
      })
      .then(() => readFinished(workflow))
      .catch((err: Error) => say(err.message));
  }
}

load().catch((err: Error) => {
  main.replaceChildren(element('p', 'state failed', `The dashboard could not load: ${err.message}. Reload the page to try again.`));
});
