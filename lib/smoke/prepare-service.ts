/**
 * Setup of a one-off container without network. `run` has no network flag: a temporary extra
 * override sets `network_mode: none` (and `init: true` where Compose accepts it).
 *
 * If the service declares `networks:`, both v1 ("'network_mode' and 'networks' cannot be
 * combined") and v2 ("declares mutually exclusive `network_mode` and `networks`") refuse, and an
 * override cannot remove the list (v1 merges `networks`; `networks: []`, `{}` and `null` are
 * refused or merged). Then the smoke runs a copy of the merged `config` output, with the service's
 * `networks` removed, from the original project folder (`--project-directory`, so project name,
 * `.env` and image names stay the same). `config` output (v1, and v2 as of 2.26) re-escapes `$`
 * as `$$` and makes every path absolute, so the copy is equivalent and is written as parsed: never
 * escaped again. (v1 prints short-syntax volumes interpolated, a `$` in them unescaped.)
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { composeConfigOutput } from '../compose/run-config.ts';
import { serviceNetworks, servicesSection, type ComposeServices } from '../compose/services.ts';
import { commandFor } from '../invocation.ts';
import { outputTail, tailText } from './container-output.ts';
import { safeName, type PreparedService, type SmokeContext } from './one-off-run.ts';
import type { SmokeFailureCode } from '../errors.ts';
import type { SmokeFailure } from './report.ts';

function composeConfig(ctx: SmokeContext, fileArgs: string[]): ReturnType<typeof composeConfigOutput> {
  return composeConfigOutput(ctx.engine, [...ctx.profileArgs, ...fileArgs], { $: ctx.sh, timeout: '120s' });
}

function servicesOf(yamlText: string): ComposeServices {
  return servicesSection(parseYaml(yamlText, { uniqueKeys: false }));
}

function setupFailure(service: string, code: SmokeFailureCode, message: string, hint: string): SmokeFailure {
  return { service, step: 'setup', code, message, hint };
}

const NETWORKS_CONFLICT = /network_mode.*networks.*(cannot be combined|mutually exclusive)|mutually exclusive.*network_mode/is;

export async function prepareService(ctx: SmokeContext, service: string): Promise<PreparedService | SmokeFailure> {
  const tmpOverride = path.join(ctx.tmpDir, `${safeName(service)}.smoke-override.yaml`);
  const header = '# Temporary override written by modelmount smoke: no network for the one-off container. Deleted after the run.\n';
  const write = (svc: Record<string, unknown>) =>
    fs.writeFile(tmpOverride, header + stringifyYaml({ services: { [service]: svc } }, { lineWidth: 0 }), { mode: 0o600 });
  const noService = (files: string) =>
    setupFailure(service, 'ESMOKE_NO_SERVICE', `Service ${service} is not defined in ${files}.`, 'Fix compose.services in the manifest (or compose.files) so it names a service of your Compose project.');

  let attrs: Record<string, unknown> = { network_mode: 'none', init: true };
  await write(attrs);
  let out = await composeConfig(ctx, [...ctx.baseArgs, '-f', tmpOverride]);
  if (out.exitCode !== 0 && /\binit\b/.test(out.stderr) && !NETWORKS_CONFLICT.test(out.stderr)) {
    attrs = { network_mode: 'none' };
    await write(attrs);
    out = await composeConfig(ctx, [...ctx.baseArgs, '-f', tmpOverride]);
  }
  if (out.exitCode === 0) {
    if (!servicesOf(out.stdout)[service]) return noService(ctx.baseArgs.filter((_, i) => i % 2 === 1).join(', '));
    return { fileArgs: [...ctx.baseArgs, '-f', tmpOverride], network: 'override' };
  }
  if (!NETWORKS_CONFLICT.test(out.stderr)) {
    return setupFailure(
      service,
      'ESMOKE_COMPOSE',
      `\`${ctx.engine.command.join(' ')} config\` failed for ${service}: ${tailText(outputTail(out.stderr || out.stdout, 8))}`,
      `Fix the Compose files named above; \`${commandFor('doctor')}\` checks them too.`,
    );
  }
  // The service declares `networks:`, which an override cannot take away: run a
  // copy of the merged configuration without them.
  const merged = await composeConfig(ctx, ctx.baseArgs);
  if (merged.exitCode !== 0) {
    return setupFailure(service, 'ESMOKE_COMPOSE', `\`${ctx.engine.command.join(' ')} config\` failed: ${tailText(outputTail(merged.stderr, 8))}`, 'Fix the Compose files named above.');
  }
  const doc = parseYaml(merged.stdout, { uniqueKeys: false }) as Record<string, unknown> | null;
  const svc = servicesSection(doc)[service];
  if (!doc || !svc) return noService(ctx.baseArgs.filter((_, i) => i % 2 === 1).join(', '));
  delete svc.networks;
  Object.assign(svc, attrs);
  // drop network definitions no service uses any more (Compose would warn, and might create them)
  const top = (doc as { networks?: Record<string, unknown> }).networks;
  if (top && typeof top === 'object') {
    const used = new Set<string>();
    for (const s of Object.values(servicesSection(doc))) {
      for (const name of serviceNetworks(s)) used.add(name);
      if (!s?.network_mode && !s?.networks) used.add('default');
    }
    for (const name of Object.keys(top)) if (!used.has(name)) delete top[name];
    if (Object.keys(top).length === 0) delete (doc as { networks?: unknown }).networks;
  }
  const mergedFile = path.join(ctx.tmpDir, `${safeName(service)}.smoke-merged.yaml`);
  await fs.writeFile(mergedFile, stringifyYaml(doc, { lineWidth: 0 }), { mode: 0o600 });
  ctx.step(`${service} declares networks, which Compose will not combine with network_mode: none in an override; running a copy of the merged config without them`);
  return { fileArgs: ['--project-directory', ctx.projectDir, '-f', mergedFile], network: 'merged-config' };
}
