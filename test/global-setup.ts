/**
 * One temp root per test run: every test's temp folder (os.tmpdir(), mkdtemp) and every child
 * process lands below it through TMPDIR, and it is removed when the run ends.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmount-tests-'));
  process.env.TMPDIR = root;
  return () => {
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  };
}
