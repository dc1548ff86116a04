// Module resolve hook for import-log.mjs (runs on the loader thread; writes straight to fd 2).
import { writeSync } from 'node:fs';

const WATCHED = /^(zx|got|@inquirer\/prompts|@aws-sdk\/client-s3|@aws-sdk\/credential-providers)(\/|$)/;

export async function resolve(specifier, context, next) {
  if (WATCHED.test(specifier)) writeSync(2, `[import] ${specifier}\n`);
  return next(specifier, context);
}
