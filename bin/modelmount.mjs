#!/usr/bin/env node
// The `modelmount` bin. Written in syntax every Node since 12 parses (no top-level await, no
// static import): an older Node must reach the version check below and print one line, not a
// SyntaxError from a module it cannot load. Nothing else is loaded before that check.
//
// Then it runs the built JavaScript, dist/cli/modelmount.mjs (scripts/build.mjs, run by
// `prepare` and before packing). An installed package has nothing else. In a source checkout
// (scripts/ is next to bin/), the bundle is rebuilt first when a source is newer than it, and
// MODELMOUNT_NO_BUNDLE=1 runs the TypeScript through tsx instead (both dev dependencies).
var NEED = [20, 19];
var have = process.versions.node.split('.').map(Number);
if (have[0] < NEED[0] || (have[0] === NEED[0] && have[1] < NEED[1])) {
  process.stderr.write('modelmount needs Node.js ' + NEED.join('.') + ' or later; this is Node.js ' + process.versions.node + '. Install a newer Node.js (https://nodejs.org/) and run it again.\n');
  process.exit(2);
}

import('./start.mjs').then(function (m) {
  return m.start();
});
