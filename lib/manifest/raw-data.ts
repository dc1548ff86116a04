/** Reading the raw YAML data of a manifest without trusting its shape (the schema reports a wrong shape). */

export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function asObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

export function stringAt(o: Record<string, unknown> | undefined, key: string): string | undefined {
  if (!o || !Object.hasOwn(o, key)) return undefined;
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
}
