/** What a part hands back when it starts: the means to stop it and release what it holds. */
export interface Disposable {
  dispose(): unknown;
}

/**
 * The parts the gateway has started, in the order it started them. Each is
 * pushed as soon as it is up, so that whatever happens next (a start-up step
 * that fails, or `close`) tears down exactly what was built, last first: a
 * part is stopped before the parts it uses. Each dispose runs once, however
 * often it is asked for; one that fails does not keep the others from
 * running, and the first failure is thrown once all have run.
 */
export class Stack {
  private readonly disposes: (() => Promise<void>)[] = [];
  private disposing?: Promise<void>;

  /** Pushes `part`'s dispose and hands the part back. */
  use<T extends Disposable>(part: T): T {
    this.defer(() => part.dispose());
    return part;
  }

  /** Pushes `dispose`; the returned function runs it now (once: the stack then skips it), for a part another part stops first (websockets, in Apollo's drain). */
  defer(dispose: () => unknown): () => Promise<void> {
    let running: Promise<void> | undefined;
    const once = () =>
      (running ??= Promise.resolve()
        .then(dispose)
        .then(() => undefined));
    this.disposes.push(once);
    return once;
  }

  /** Disposes every part, last pushed first; resolves when all have run (the same promise when asked again). */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      let failure: { error: unknown } | undefined;
      for (const dispose of this.disposes.splice(0).reverse()) {
        try {
          await dispose();
        } catch (error) {
          failure ??= { error };
        }
      }
      if (failure) throw failure.error;
    })();
    return this.disposing;
  }
}
