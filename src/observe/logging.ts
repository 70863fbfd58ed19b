import pino, { type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import type { Config } from '../server/config';
import { stdoutLog, type LogOutput } from '../server/log';

/**
 * The gateway's logger: JSON lines (pino's) for log shippers, or with
 * LOG_FORMAT=pretty (and by default in a terminal, outside production)
 * pino-pretty's readable lines, written synchronously in this process so a
 * line is out before an exit. JSON lines go to `output` (stdout's LogOutput:
 * lines a broken or stalled stdout cannot take are dropped and counted). Lines written inside a traced operation carry
 * its `trace_id` and `span_id` (see OperationObserver.logger).
 */
export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat' | 'nodeEnv'>, output: LogOutput = stdoutLog()): Logger {
  const pretty =
    config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY === true && config.nodeEnv !== 'production');
  // JSON on stdout goes through LogOutput, which never blocks on a reader that is gone; a terminal is read by its person.
  if (!pretty) return pino({ level: config.logLevel }, output);
  return pino({ level: config.logLevel }, pinoPretty({ colorize: process.stdout.isTTY === true, sync: true, ignore: 'pid,hostname' }));
}
