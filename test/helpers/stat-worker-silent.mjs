// A stat worker (lib/verify/stat-verdicts.ts) that starts and then says nothing, as one blocked in
// an lstat on a hung mount would: the event loop stays alive and no message is ever posted.
setInterval(() => {}, 1000);
