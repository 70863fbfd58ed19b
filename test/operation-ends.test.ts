import { OperationEnds } from '../src/server/socket-session';

test("a socket's operations are aborted one by one by id, the first and those after it alike, and an unknown id aborts none", () => {
  const ends = new OperationEnds();
  const [a, b, c] = [new AbortController(), new AbortController(), new AbortController()];
  ends.set('a', a);
  ends.set('b', b);
  ends.set('c', c);
  ends.abort('x');
  expect([a, b, c].map((end) => end.signal.aborted)).toEqual([false, false, false]);
  ends.abort('b');
  expect([a, b, c].map((end) => end.signal.aborted)).toEqual([false, true, false]);
  ends.abort('a');
  expect([a, b, c].map((end) => end.signal.aborted)).toEqual([true, true, false]);
  ends.abortAll();
  expect(c.signal.aborted).toBe(true);
});

test('an operation completed by the server is forgotten: the socket closing later aborts only those still open', () => {
  const ends = new OperationEnds();
  const [a, b, c] = [new AbortController(), new AbortController(), new AbortController()];
  ends.set('a', a);
  ends.set('b', b);
  ends.delete('a');
  ends.set('c', c);
  ends.delete('b');
  ends.abortAll();
  expect([a, b, c].map((end) => end.signal.aborted)).toEqual([false, false, true]);
});

test('an id set again while it is among the others is replaced there, not kept twice: forgetting it forgets it', () => {
  const ends = new OperationEnds();
  const [a, b, again] = [new AbortController(), new AbortController(), new AbortController()];
  ends.set('a', a);
  ends.set('b', b);
  ends.delete('a');
  ends.set('b', again);
  ends.delete('b');
  ends.abortAll();
  expect([a, b, again].map((end) => end.signal.aborted)).toEqual([false, false, false]);
});
