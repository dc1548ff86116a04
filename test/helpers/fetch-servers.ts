/** Loopback fault servers closed after each test, and fast-failing HTTP sources on them (fetch tests). */
import { afterEach } from 'vitest';
import { createHttpSource } from '../../lib/sources/http/source.ts';
import type { Source } from '../../lib/sources/types.ts';
import { startFaultServer, type FaultServer } from './with-server.ts';

/** `server(files)`: a fault server serving `files`, closed after the test (call at module level). */
export function useFaultServers(): (files: Record<string, Buffer>) => Promise<FaultServer> {
  const servers: FaultServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return async (files) => {
    const s = await startFaultServer({ files });
    servers.push(s);
    return s;
  };
}

/** an HTTP source on `s` with short timeouts and quick retries */
export function fastHttp(s: FaultServer, name = 'mirror'): Source {
  return createHttpSource(
    { name, kind: 'http', base: s.url },
    { timeouts: { idleMs: 2000, connectMs: 2000, stallWindowMs: 2000 }, retry: { limit: 2, baseDelayMs: 20, maxDelayMs: 1500 } },
  );
}
