import { IDEMPOTENCY_TTL_MS, MemoryIdempotencyStore } from '../src/upstream/idempotency';
import { ManualClock } from './utils/clock';

const result = { workflowName: 'customer-id-map', jobId: 'a'.repeat(32) };

test('of concurrent reservations of one key, exactly one is claimed', async () => {
  const store = new MemoryIdempotencyStore();
  const reservations = await Promise.all(Array.from({ length: 10 }, () => store.reserve('k', 'f')));
  expect(reservations.filter((r) => r.claimed)).toHaveLength(1);
});

test('a done key answers with its result until 24 hours have passed, then counts as never used', async () => {
  const clock = new ManualClock();
  const store = new MemoryIdempotencyStore({ clock: clock.read });
  const first = await store.reserve('k', 'f');
  expect(first.claimed).toBe(true);
  await store.settle('k', { state: 'done', fingerprint: 'f', reservedAt: clock.now, result });
  clock.advance(IDEMPOTENCY_TTL_MS - 1);
  expect(await store.reserve('k', 'f')).toEqual({ claimed: false, record: expect.objectContaining({ state: 'done', result }) });
  clock.advance(1);
  expect(await store.reserve('k', 'f')).toMatchObject({ claimed: true });
});

test('an unknown key is claimed again only with the same fingerprint, and says since when and when the answer was lost', async () => {
  const clock = new ManualClock();
  const store = new MemoryIdempotencyStore({ clock: clock.read });
  const { reservedAt } = (await store.reserve('k', 'f')) as { reservedAt: number };
  clock.advance(1500);
  await store.settle('k', { state: 'unknown', fingerprint: 'f', reservedAt });
  expect(await store.reserve('k', 'other')).toMatchObject({ claimed: false });
  expect(await store.reserve('k', 'f')).toEqual({
    claimed: true,
    reservedAt,
    previous: { state: 'unknown', fingerprint: 'f', reservedAt, lostAt: reservedAt + 1500 },
  });
});

test('waiters on a pending key wake when it settles or is released', async () => {
  const store = new MemoryIdempotencyStore();
  await store.reserve('a', 'f');
  await store.reserve('b', 'f');
  const woken: string[] = [];
  const waits = [store.settled('a').then(() => woken.push('a')), store.settled('b').then(() => woken.push('b'))];
  await store.settle('a', { state: 'done', fingerprint: 'f', reservedAt: 0, result });
  await store.release('b');
  await Promise.all(waits);
  expect(woken.sort()).toEqual(['a', 'b']);
  await expect(store.settled('nothing')).resolves.toBeUndefined();
});

test('the store keeps at most maxKeys done keys, dropping the least recently used', async () => {
  const store = new MemoryIdempotencyStore({ maxKeys: 2 });
  for (const key of ['a', 'b', 'c']) {
    const { reservedAt } = (await store.reserve(key, 'f')) as { reservedAt: number };
    await store.settle(key, { state: 'done', fingerprint: 'f', reservedAt, result });
  }
  expect(await store.reserve('a', 'f')).toMatchObject({ claimed: true });
  expect(await store.reserve('c', 'f')).toMatchObject({ claimed: false });
});

test('a key whose start is under way or whose answer was lost is never evicted, however many keys follow', async () => {
  const store = new MemoryIdempotencyStore({ maxKeys: 2 });
  const pending = (await store.reserve('pending', 'f')) as { reservedAt: number };
  const lost = (await store.reserve('lost', 'f')) as { reservedAt: number };
  await store.settle('lost', { state: 'unknown', fingerprint: 'f', reservedAt: lost.reservedAt });
  for (let i = 0; i < 10_000; i++) {
    await store.reserve(`done-${i}`, 'f');
    await store.settle(`done-${i}`, { state: 'done', fingerprint: 'f', reservedAt: pending.reservedAt, result });
  }
  expect(await store.reserve('pending', 'f')).toEqual({ claimed: false, record: expect.objectContaining({ state: 'pending' }) });
  expect(await store.reserve('lost', 'f')).toMatchObject({ claimed: true, previous: { state: 'unknown' } });
});
