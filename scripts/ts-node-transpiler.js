"use strict";
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS module ts-node requires */
/* global process, __dirname, exports */
/**
 * ts-node's transpiler for this project (tsconfig.json's "ts-node"."transpiler"; Hardhat runs ts-node in
 * transpile-only mode): TypeScript's own `transpileModule`, memoised on disk. Every start of a task
 * transpiles the config, the tasks and the `src/` modules they load (~150 files, most of the start-up);
 * a file transpiled before is read back instead. The key is the file's name and text, the compiler
 * options and TypeScript's version, so an edited file, option or upgrade is transpiled afresh; results
 * with diagnostics are never stored. Cache: node_modules/.cache/thingledger-ts; THINGLEDGER_TS_CACHE
 * names another folder, or "off". Type-checking is `tsc --noEmit` (npm run lint:types).
 */
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const writeFileAtomic = require("write-file-atomic");

const setting = process.env.THINGLEDGER_TS_CACHE;
const dir = setting ?? path.join(__dirname, "..", "node_modules", ".cache", "thingledger-ts");

exports.create = function create({ service }) {
  const compilerOptions = service.config.options;
  let ts;
  let salt;
  return {
    transpile(input, { fileName }) {
      ts ??= require("typescript");
      salt ??= JSON.stringify([ts.version, compilerOptions]);
      const transpile = () => ts.transpileModule(input, { fileName, compilerOptions, reportDiagnostics: true });
      if (setting === "off") return transpile();
      const key = crypto.createHash("sha256").update(salt).update(fileName).update("\0").update(input).digest("hex");
      const file = path.join(dir, `${key}.json`);
      try {
        return JSON.parse(fs.readFileSync(file, "utf8"));
      } catch {
        // not transpiled before (or unreadable): transpile now
      }
      const result = transpile();
      if ((result.diagnostics ?? []).length === 0) {
        try {
          fs.mkdirSync(dir, { recursive: true });
          writeFileAtomic.sync(
            file,
            JSON.stringify({ outputText: result.outputText, sourceMapText: result.sourceMapText }),
          );
        } catch {
          // a read-only or full disk only costs the next start its transpiling
        }
      }
      return result;
    },
  };
};
