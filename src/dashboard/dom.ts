/** Small DOM and wording helpers the dashboard's views share. */

export type Kind = 'idMapping' | 'matching';
export type Status = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';

/** A job as the page knows it: the live list's summary, and, once read, its row's or detail view's fields. */
export interface Job {
  id: string;
  jobId: string;
  status: Status;
  startTime: string;
  endTime?: string | null;
  observedAt: string;
  stale: boolean;
  jobType?: string | null;
  errorDetails?: { errorMessage?: string | null } | null;
  outputSourceConfig?: { roleArn: string; outputS3Path: string; kmsArn?: string | null }[] | null;
  metrics?: Record<string, number | null | undefined> | null;
}

export const isActive = (job: Pick<Job, 'status'>) => job.status === 'QUEUED' || job.status === 'RUNNING';

export function element<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with its attributes. */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number> = {},
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

export function time(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

const DAY_AND_TIME = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** A job's start and end, short: the end's day only when it is not the start's. */
export function span(job: Pick<Job, 'startTime' | 'endTime'>): string {
  const start = new Date(job.startTime);
  if (!job.endTime) return `${DAY_AND_TIME.format(start)} →`;
  const end = new Date(job.endTime);
  return `${DAY_AND_TIME.format(start)} → ${(end.toDateString() === start.toDateString() ? TIME : DAY_AND_TIME).format(end)}`;
}

export const count = (value: number | null | undefined) => (value == null ? '—' : value.toLocaleString());

/** How long a job ran (or has run so far), e.g. `1 h 30 min`, `42 s`. */
export function duration(job: Pick<Job, 'startTime' | 'endTime' | 'observedAt'>): string {
  const ms = Date.parse(job.endTime ?? job.observedAt) - Date.parse(job.startTime);
  if (!(ms >= 0)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  return `${Math.floor(min / 60)} h${min % 60 ? ` ${min % 60} min` : ''}`;
}

/** `#/idmapping/<workflow>/<jobId>`: a job's detail view, which can be linked. */
export function jobRoute(kind: Kind, workflowName: string, jobId: string): string {
  return `#/${kind === 'idMapping' ? 'idmapping' : 'matching'}/${encodeURIComponent(workflowName)}/${jobId}`;
}

/** The job a route names, or undefined for the list. */
export function parseRoute(hash: string): { kind: Kind; workflowName: string; jobId: string } | undefined {
  const match = /^#\/(idmapping|matching)\/([^/]+)\/([0-9a-f]+)$/.exec(hash);
  if (!match) return undefined;
  let workflowName: string;
  try {
    workflowName = decodeURIComponent(match[2]);
  } catch {
    // A link mangled on its way (`%` not followed by two hex digits) shows the list, not a broken page.
    return undefined;
  }
  return { kind: match[1] === 'idmapping' ? 'idMapping' : 'matching', workflowName, jobId: match[3] };
}

/** A status badge. */
export const badge = (status: Status) => element('span', `badge ${status.toLowerCase()}`, status);

/** "as of <time>", and a marker when the gateway says it cannot reach the service about the job. */
export function asOf(job: Pick<Job, 'observedAt' | 'stale'>): HTMLElement {
  const line = element('span', 'as-of', `as of ${new Date(job.observedAt).toLocaleTimeString()}`);
  if (job.stale) line.append(' ', element('strong', 'stale', 'stale: the gateway cannot reach the service'));
  return line;
}
