/**
 * Which artifacts an update installs: what flags, prompts or defaults chose, and the installed
 * set that choice brings about (added to what is installed, or with --prune exactly the choice).
 * Every question is answered here, before the first byte moves.
 */
import { CancelledError, UsageError } from '../errors.ts';
import { commandFor } from '../invocation.ts';
import { checkRequire, filterByLabelChoice, planInstalledSet, selectArtifacts } from '../manifest/select.ts';
import type { Artifact } from '../manifest/schema.ts';
import type { ContextOptions, RunContext } from '../run-context.ts';
import { shellQuote } from '../shell.ts';
import { listSome } from '../ui/format.ts';
import * as prompts from '../ui/prompts.ts';
import { readInstalledIds, selectOptionsOf, type SelectionOptions } from './installed-set.ts';

export interface Selection {
  /** chooseSelection: what flags, prompts or defaults chose; after runUpdate: the installed set the update brings about */
  artifacts: Artifact[];
  preferredSource?: string;
  /** how the selection was made, for the log line */
  how: 'flags' | 'prompts' | 'defaults';
  /** installed before, not chosen, and leaving the mounted set (--prune) */
  pruned?: string[];
  /** what flags, prompts or defaults chose (set by resolveInstalledSet) */
  chosen?: Artifact[];
}

/** What decides the installed set: --prune, and how a removal is confirmed (--yes, --dry-run only says it). */
export interface InstalledSetOptions extends Pick<ContextOptions, 'manifest' | 'hostDir' | 'cacheDir' | 'yes'> {
  prune?: boolean;
  dryRun?: boolean;
}

/**
 * Flags answer questions; without flags, ask when interactive, else take the
 * safe defaults. This is what the user chose; runUpdate adds it to what is
 * installed (or, with --prune, makes it the installed set) and checks `require` on that.
 */
export async function chooseSelection(ctx: RunContext, selection: SelectionOptions): Promise<Selection> {
  const { manifest } = ctx;
  const opts = selectOptionsOf(selection);
  let preferredSource = selection.source;
  let artifacts: Artifact[];
  let how: Selection['how'] = opts.only?.length || opts.labels ? 'flags' : 'defaults';
  if (opts.only?.length || opts.labels || !ctx.interactive) {
    artifacts = selectArtifacts(manifest, opts);
  } else {
    how = 'prompts';
    // ask only about labels that tell the required artifacts apart (e.g. lang: ja / en)
    const chosenLabels: Record<string, string[]> = {};
    const offered = Object.fromEntries(prompts.choosableLabels(manifest.artifacts.filter((a) => !a.optional)));
    for (const [key, values] of Object.entries(offered)) {
      chosenLabels[key] = await prompts.askLabels(key, values);
    }
    // an optional artifact with a value the question did not offer stays for the optional question
    const candidates = filterByLabelChoice(manifest.artifacts, chosenLabels, offered);
    const optional = candidates.filter((a) => a.optional);
    // --include-optional / --no-include-optional answer the question
    const extra =
      selection.includeOptional !== undefined
        ? selection.includeOptional
          ? optional.map((a) => a.id)
          : []
        : optional.length
          ? await prompts.askOptionalArtifacts(optional)
          : [];
    artifacts = candidates.filter((a) => !a.optional || extra.includes(a.id));
  }
  if (!preferredSource && ctx.interactive && manifest.sources.length > 1) {
    preferredSource = await prompts.askSource(manifest.sources);
  }
  return { artifacts, preferredSource, how };
}

/**
 * The installed set this update brings about: the choice added to what is
 * installed, or with --prune exactly the choice. Refuses (exit 2) a set that
 * breaks a `require` rule; removing an installed artifact needs --yes or a
 * confirmation on a terminal. Everything here happens before any byte moves.
 */
export async function resolveInstalledSet(ctx: RunContext, opts: InstalledSetOptions, chosen: Selection, signal: AbortSignal): Promise<Selection> {
  const set = planInstalledSet(ctx.manifest, await readInstalledIds(ctx, { signal }), chosen.artifacts, { prune: Boolean(opts.prune) });
  checkRequire(ctx.manifest, set.artifacts.map((a) => a.id));
  if (set.kept.length) {
    ctx.log(`Keeping the installed ${listSome(set.kept)} (still mounted; --prune makes the installed set exactly the selection).`);
  }
  if (set.removed.length) {
    const removed = set.removed.join(', ');
    const after = 'the Compose override stops mounting them; their folders stay on the host until `gc`';
    if (opts.dryRun) ctx.log(`--prune would remove ${removed} from the mounted set: ${after}.`);
    else if (opts.yes) ctx.log(`Removing ${removed} from the mounted set (--prune --yes): ${after}.`);
    else if (ctx.interactive) {
      if (!(await prompts.confirmPrune(set.removed))) throw new CancelledError('declined');
    } else {
      throw new UsageError(`--prune would remove ${removed} from the mounted set: that needs a confirmation.`, {
        code: 'EPRUNECONFIRM',
        hint: `Answer the question on a terminal, or confirm with --yes: ${pruneCommand(opts, chosen.artifacts)}`,
        data: { removed: set.removed },
      });
    }
  }
  return { ...chosen, artifacts: set.artifacts, pruned: set.removed, chosen: chosen.artifacts };
}

/**
 * Under the run lock: the installed set again, from the install record as it is
 * now. A run that waited for the lock adds to what the run before it installed
 * (so nothing drops out of the override); --prune removes only what was confirmed.
 */
export async function refreshInstalledSet(ctx: RunContext, opts: InstalledSetOptions, selection: Selection, signal: AbortSignal): Promise<Selection> {
  if (!selection.chosen) return selection;
  const set = planInstalledSet(ctx.manifest, await readInstalledIds(ctx, { signal }), selection.chosen, { prune: Boolean(opts.prune) });
  const confirmed = new Set(selection.pruned ?? []);
  const unconfirmed = set.removed.filter((id) => !confirmed.has(id));
  if (unconfirmed.length && opts.yes) ctx.log(`Removing ${listSome(unconfirmed)} too (installed by another run while this one waited; --prune --yes).`);
  else if (unconfirmed.length) {
    throw new UsageError(`Another run installed ${unconfirmed.join(', ')} while this one waited; --prune would remove ${unconfirmed.length === 1 ? 'it' : 'them'} unconfirmed.`, {
      code: 'EPRUNECONFIRM',
      hint: 'Run the same command again: it asks (or needs --yes) for what it removes now.',
      data: { removed: set.removed },
    });
  }
  const before = new Set(selection.artifacts.map((a) => a.id));
  const meanwhile = set.artifacts.filter((a) => !before.has(a.id)).map((a) => a.id);
  if (meanwhile.length) ctx.log(`Keeping ${listSome(meanwhile)} too (installed by another run while this one waited).`);
  return { ...selection, artifacts: set.artifacts, pruned: set.removed };
}

/** The command that confirms a prune non-interactively: the same choice, by id, with --yes. */
function pruneCommand(opts: InstalledSetOptions, chosen: readonly Artifact[]): string {
  const locations = ([['manifest', opts.manifest], ['host-dir', opts.hostDir], ['cache-dir', opts.cacheDir]] as const).flatMap(([f, v]) => (typeof v === 'string' ? [`--${f}`, v] : []));
  const args = [...locations, '--prune', '--only', chosen.map((a) => a.id).join(','), '--yes'];
  return commandFor('update', args.map(shellQuote).join(' '));
}
