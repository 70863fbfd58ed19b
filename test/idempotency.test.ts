import { IDEMPOTENCY_TTL_MS, MemoryIdempotencyStore } from '../src/upstream/idempotency';
import { ManualClock } from './utils/clock';

const result = { workflowName: 'customer-id-map', jobId: 'a'.repeat(32) };
/** A start's call lasts 15 s at most; the clocks may differ by 10 s. */
const TERMS = { lifetimeMs: 15_000, skewMs: 10_000 };

test('of concurrent reservations of one key, exactly one is claimed', async () => {
  const store = new MemoryIdempotencyStore();
  const reservations = await Promise.all(Array.from({ length: 10 }, () => store.reserve('k', 'f', TERMS)));
  expect(reservations.filter((r) => r.claimed)).toHaveLength(1);
});

test('a done key answers with its result until 24 hours have passed, then counts as never used', async () => {
  const clock = new ManualClock();
  const store = new MemoryIdempotencyStore({ clock: clock.read });
  const first = await store.reserve('k', 'f', TERMS);
  expect(first.claimed).toBe(true);
  await store.settle('k', { state: 'done', fingerprint: 'f', reservedAt: clock.now, result });
  clock.advance(IDEMPOTENCY_TTL_MS - 1);
  expect(await store.reserve('k', 'f', TERMS)).toEqual({ claimed: false, record: expect.objectContaining({ state: 'done', result }) });
  clock.advance(1);
  expect(await store.reserve('k', 'f', TERMS)).toMatchObject({ claimed: true });
});

test('an unknown key is claimed again only with the same fingerprint, and says since when and when the answer was lost', async () => {
  const clock = new ManualClock();
  const store = new MemoryIdempotencyStore({ clock: clock.read });
  const { reservedAt } = (await store.reserve('k', 'f', TERMS)) as { reservedAt: number };
  clock.advance(1500);
  await store.settle('k', { state: 'unknown', fingerprint: 'f', reservedAt });
  expect(await store.reserve('k', 'other', TERMS)).toMatchObject({ claimed: false });
  expect(await store.reserve('k', 'f', TERMS)).toEqual({
    claimed: true,
    reservedAt,
    previous: { state: 'unknown', fingerprint: 'f', reservedAt, lostAt: reservedAt + 1500 },
  });
});

test('waiters on a pending key wake when it settles or is released', async () => {
  const store = new MemoryIdempotencyStore();
  await store.reserve('a', 'f', TERMS);
  await store.reserve('b', 'f', TERMS);
  const woken: string[] = [];
  const waits = [store.settled('a', 60_000).then(() => woken.push('a')), store.settled('b', 60_000).then(() => woken.push('b'))];
  await store.settle('a', { state: 'done', fingerprint: 'f', reservedAt: 0, result });
  await store.release('b');
  await Promise.all(waits);
  expect(woken.sort()).toEqual(['a', 'b']);
  await expect(store.settled('nothing', 60_000)).resolves.toBeUndefined();
});

test('the store keeps at most maxKeys done keys, dropping the least recently used', async () => {
  const store = new MemoryIdempotencyStore({ maxKeys: 2 });
  for (const key of ['a', 'b', 'c']) {
    const { reservedAt } = (await store.reserve(key, 'f', TERMS)) as { reservedAt: number };
    await store.settle(key, { state: 'done', fingerprint: 'f', reservedAt, result });
  }
  expect(await store.reserve('a', 'f', TERMS)).toMatchObject({ claimed: true });
  expect(await store.reserve('c', 'f', TERMS)).toMatchObject({ claimed: false });
});

test('a key whose start is under way or whose answer was lost is never evicted, however many keys follow', async () => {
  const store = new MemoryIdempotencyStore({ maxKeys: 2 });
  const pending = (await store.reserve('pending', 'f', TERMS)) as { reservedAt: number };
  const lost = (await store.reserve('lost', 'f', TERMS)) as { reservedAt: number };
  await store.settle('lost', { state: 'unknown', fingerprint: 'f', reservedAt: lost.reservedAt });
  for (let i = 0; i < 10_000; i++) {
    await store.reserve(`done-${i}`, 'f', TERMS);
    await store.settle(`done-${i}`, { state: 'done', fingerprint: 'f', reservedAt: pending.reservedAt, result });
  }
  expect(await store.reserve('pending', 'f', TERMS)).toEqual({ claimed: false, record: expect.objectContaining({ state: 'pending' }) });
  expect(await store.reserve('lost', 'f', TERMS)).toMatchObject({ claimed: true, previous: { state: 'unknown' } });
});

test('a pending key is taken over only once its start can no longer land: lifetime plus skew after the reservation', async () => {
  const clock = new ManualClock();
  const store = new MemoryIdempotencyStore({ clock: clock.read });
  const { reservedAt } = (await store.reserve('k', 'f', TERMS)) as { reservedAt: number };
  clock.advance(TERMS.lifetimeMs + TERMS.skewMs - 1);
  expect(await store.reserve('k', 'f', TERMS)).toEqual({
    claimed: false,
    record: { state: 'pending', fingerprint: 'f', reservedAt, landBy: reservedAt + TERMS.lifetimeMs, owner: expect.any(String) },
  });
  expect(await store.reserve('k', 'other', TERMS)).toMatchObject({ claimed: false });
  clock.advance(1);
  const landBy = reservedAt + TERMS.lifetimeMs;
  expect(await store.reserve('k', 'f', TERMS)).toEqual({
    claimed: true,
    reservedAt,
    previous: { state: 'unknown', fingerprint: 'f', reservedAt, lostAt: landBy, landBy },
  });
  // The new holder's start has a lifetime of its own.
  expect(await store.reserve('k', 'f', TERMS)).toMatchObject({
    claimed: false,
    record: { state: 'pending', landBy: clock.now + TERMS.lifetimeMs },
  });
});

test('a wait for a pending key ends at its timeout when nothing settles it', async () => {
  const store = new MemoryIdempotencyStore();
  await store.reserve('k', 'f', TERMS);
  let woken = false;
  const wait = store.settled('k', 20).then(() => (woken = true));
  await wait;
  expect(woken).toBe(true);
  expect(await store.reserve('k', 'f', TERMS)).toMatchObject({ claimed: false, record: { state: 'pending' } });
});
