import 'reflect-metadata';
import { loadConfig } from '../../src/server/config';
import { KnownOperation, startTracing } from '../../src/observe/tracing';

/**
 * A process that traces one operation twice, as a cached answer's span
 * (AnswerSpan) and as the SDK's span a miss gets, and exports both to the
 * OTLP endpoint of its environment (the exporter's dynamic import cannot
 * run inside jest). argv: the operation's text, its error codes (a JSON
 * list), the two callers' traceparents.
 */
async function main(): Promise<void> {
  const [source, codes, answerParent, sdkParent] = process.argv.slice(2);
  const { tracing, dispose } = startTracing(loadConfig(process.env).tracing!, 'test', 'answer-spans');
  const carrier = (traceparent: string) => (name: string) => ({ traceparent, tracestate: 'router=1' })[name];
  const ended = JSON.parse(codes) as string[];
  const answer = tracing.operation(carrier(answerParent), new KnownOperation('query', 'CustomerJob', source));
  const sdk = tracing.operation(carrier(sdkParent));
  sdk.resolved('query', 'CustomerJob', () => source);
  answer.end(ended);
  sdk.end(ended);
  await dispose();
}

void main();
