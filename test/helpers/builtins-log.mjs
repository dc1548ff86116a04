// `node --import ./test/helpers/builtins-log.mjs …`: at exit, writes `[builtins] <name> <name> …` to
// stderr: every Node built-in module the process loaded (test/startup.test.ts).
process.on('exit', () => {
  const names = process.moduleLoadList.filter((n) => n.startsWith('NativeModule ')).map((n) => n.slice('NativeModule '.length));
  process.stderr.write(`[builtins] ${names.join(' ')}\n`);
});
