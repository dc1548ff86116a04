/** Run `fn` over `items` with at most `limit` in flight; results keep input order. Stops starting new work after the first failure. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  const settled = await Promise.allSettled(workers);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results;
}

/**
 * A counting semaphore: `use(fn)` runs fn when one of `size` slots is free. fn may give its slot
 * back early by calling `release()` (idempotent), e.g. once its network part is over and only
 * local work (fsync, rename) remains; otherwise the slot is freed when fn settles.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly size: number) {}

  /** A slot now if one is free and nobody waits for one (returns its release), else undefined. */
  tryAcquire(): (() => void) | undefined {
    if (this.active >= this.size || this.waiting.length > 0) return undefined;
    this.active++;
    return this.releaser();
  }

  private releaser(): () => void {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      // hand the slot straight to the next waiter (so tryAcquire cannot take it in between)
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    };
  }

  async use<R>(fn: (release: () => void) => Promise<R>): Promise<R> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    const release = this.releaser();
    try {
      return await fn(release);
    } finally {
      release();
    }
  }
}
