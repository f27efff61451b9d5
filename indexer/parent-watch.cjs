// Preloaded into the indexer's Ponder process by `startIndexer` (src/indexer/process.ts): Ponder runs in a
// process group of its own, so a task killed without running its handlers (SIGKILL, an OOM kill, a closed
// terminal) would leave it serving, holding the port and the database. Its stdin is a pipe from the task,
// which closes however the task ends; Ponder then shuts down as on SIGTERM.
//
// The task also writes on that pipe, one message a line: `unhealthy <reason>` once it has seen that Ponder
// cannot advance (src/indexer/watchdog.ts). From then on `/ready` and `/health` answer 503 with the reason:
// Ponder's own answer them before any route of the API, with 200 for as long as it runs, stuck or not. Its
// server is made with `http.createServer` (its `serve()` is passed that function when it starts, after
// this file ran), whose requests are seen here first.
/* global process, require */
"use strict";
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS preload (node --require)
const http = require("node:http");

const stop = () => process.kill(process.pid, "SIGTERM");
process.stdin.on("end", stop);
process.stdin.on("error", stop);

let unhealthy;
let pending = "";
process.stdin.on("data", (chunk) => {
  pending += chunk.toString();
  const lines = pending.split("\n");
  pending = lines.pop() ?? "";
  for (const line of lines) if (line.startsWith("unhealthy ")) unhealthy = line.slice("unhealthy ".length).trim();
});
process.stdin.resume();

const createServer = http.createServer;
http.createServer = function (...args) {
  const server = createServer.apply(this, args);
  const emit = server.emit;
  server.emit = function (event, request, response) {
    const path = event === "request" ? (request.url ?? "").split("?")[0] : "";
    if (unhealthy !== undefined && (path === "/ready" || path === "/health")) {
      response.writeHead(503, { "content-type": "text/plain; charset=utf-8", "access-control-allow-origin": "*" });
      response.end(`indexer cannot advance: ${unhealthy}\n`);
      return true;
    }
    return emit.apply(this, arguments);
  };
  return server;
};
