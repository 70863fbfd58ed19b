/**
 * Everything a test starts is registered here and disposed after it, last
 * started first (graphql-ws's tests/utils/tservers.ts `leftovers`): if a test
 * forgets to close a gateway, a client, a socket or a process, or fails
 * before it does, the fixture does not. What a file starts in `beforeAll` is
 * disposed after all its tests instead. Outside jest (the benchmarks), nothing
 * is registered: whoever starts a thing disposes of it.
 */

type Dispose = () => unknown;

const inJest = typeof afterEach === 'function' && typeof expect === 'function';
/** Between a test's first beforeEach and its afterEach: what starts then is the test's. */
let inTest = false;
const perTest: Dispose[] = [];
const perFile: Dispose[] = [];

/** Registers `dispose` to run once after the current test (or, from a `beforeAll`, after the file); returns a function that runs it now, once. */
export function leftover(dispose: Dispose): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = () =>
    (done ??= Promise.resolve()
      .then(dispose)
      .then(() => undefined));
  if (inJest) (inTest ? perTest : perFile).push(once);
  return once;
}

async function drain(list: Dispose[]): Promise<void> {
  const errors: unknown[] = [];
  // Reverse order: a client goes before the gateway it talks to. Every dispose runs even when one fails; the first failure is reported.
  while (list.length > 0) {
    try {
      await list.pop()!();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw errors[0];
}

if (inJest) {
  beforeEach(() => {
    inTest = true;
  });
  afterEach(() => {
    inTest = false;
    return drain(perTest);
  });
  afterAll(() => drain(perFile));
}
