import { LocalBudget, type LaneBudget } from '../upstream/rate-governor';
import { redisScript, type SharedRedis } from './redis';

/**
 * A token bucket in one Redis hash (`tokens`, `at`), refilled by Redis's own
 * clock so replicas' clocks do not matter: takes one token and returns 0, or
 * returns the ms until one is there.
 */
const TAKE = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 60000)
return wait
`;

type TakeCommand = (key: string, rate: number, burst: number) => Promise<number>;

/**
 * Budgets every replica draws from together (`<prefix>rate:<operation>`):
 * the service's quota is per account and region, so N replicas together send
 * no more than `ratePerSecond` of an operation. The bucket is a Lua script
 * rather than rate-limiter-flexible, whose Redis limiters count fixed windows
 * and so allow twice the rate across a window's edge. While Redis cannot be
 * reached, each replica falls back to a bucket of its own (queries keep
 * working; the account may see up to N times the rate until Redis is back).
 */
export function sharedBudgets(redis: SharedRedis, ratePerSecond: number, burst: number): (operation: string) => LaneBudget {
  const take = redisScript<TakeCommand>(redis, 'erTake', TAKE);
  return (operation) => {
    const fallback = new LocalBudget(ratePerSecond, burst);
    /** The last wait Redis answered: the estimate of the next. */
    let lastWaitMs = 0;
    return {
      take: async (trace) => {
        if (!redis.ready()) return fallback.take();
        try {
          lastWaitMs = await redis.span(trace, 'EVALSHA', () => take(`rate:${operation}`, ratePerSecond, burst), 'erTake');
          return lastWaitMs;
        } catch {
          return fallback.take();
        }
      },
      waitFor: (tokens) => (redis.ready() ? lastWaitMs + (Math.max(0, tokens - 1) * 1000) / ratePerSecond : fallback.waitFor(tokens)),
    };
  };
}
