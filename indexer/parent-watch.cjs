// Preloaded into the indexer's Ponder process by `startIndexer` (src/indexer/process.ts): Ponder runs in a
// process group of its own, so a task killed without running its handlers (SIGKILL, an OOM kill, a closed
// terminal) would leave it serving, holding the port and the database. Its stdin is a pipe from the task,
// which closes however the task ends; Ponder then shuts down as on SIGTERM.
/* global process */
"use strict";
const stop = () => process.kill(process.pid, "SIGTERM");
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
