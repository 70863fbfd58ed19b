/** A clock the test moves by hand: the emulator's jobs advance only when it does. */
export class ManualClock {
  constructor(public now = Date.UTC(2026, 10, 22, 12)) {}

  /** The function to hand the emulator. */
  readonly read = (): number => this.now;

  advance(ms: number): void {
    this.now += ms;
  }
}
