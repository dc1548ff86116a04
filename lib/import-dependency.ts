/**
 * modelmount's own runtime dependencies that are imported on first use (scripts/build.mjs LAZY: zx,
 * got, @inquirer/prompts, the AWS SDK; and the proxy agents) are imported through importDependency.
 * One that cannot be loaded means this installation is broken (the package, or one it needs, is
 * missing or damaged): neither the network nor a retry can fix that. It becomes a DependencyError
 * (exit 1, the reinstall to type), which every layer that turns failures into its own (a source's,
 * a check's, one file's) passes on as it is (throwIfDependencyError, dependencyErrorIn): the run
 * stops at once and says so once.
 */
import { DependencyError } from './errors.ts';

/** `load()` (an `import()` of `pkg`, written at the call site so the bundler sees it), or a DependencyError. */
export async function importDependency<T>(pkg: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    throw new DependencyError(pkg, err);
  }
}

/** The DependencyError `err` is, or wraps as its cause (got wraps what an agent throws), if any. */
export function dependencyErrorIn(err: unknown): DependencyError | undefined {
  let e = err;
  for (let depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    if (e instanceof DependencyError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Throw the DependencyError `err` is or wraps: a layer that maps failures to its own calls this first. */
export function throwIfDependencyError(err: unknown): void {
  const broken = dependencyErrorIn(err);
  if (broken) throw broken;
}
