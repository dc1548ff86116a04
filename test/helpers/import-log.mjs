// `node --import ./test/helpers/import-log.mjs …`: writes `[import] <specifier>` to stderr for every
// import of the packages modelmount loads on first use only (test/startup.test.ts).
import { register } from 'node:module';

register('./import-log-hooks.mjs', import.meta.url);
