/**
 * A real, separate Authorization Server process for fault-injection tests: `startAsProcess` spawns this
 * file, which serves the channels and devices already in the SQLite file (no chain), like `bench:as`.
 * It prints "listening <url>" when ready, or one line "error: <message>" and exits 1 when it cannot start.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";

import { AuthorizationServer } from "../../src/channels/as-server";
import { AsStore, secretKeyFrom } from "../../src/channels/store";
import { ReceiptVerifier } from "../../src/channels/verify";

export interface AsProcessConfig {
  file: string;
  payee: string;
  domain: { name: string; version: string; chainId: string; verifyingContract: string };
  create?: boolean;
  hotpWindow?: number;
}

export interface AsProcess {
  child: ChildProcess;
  url: string;
  /** Everything it wrote to stderr so far. */
  stderr: () => string;
  kill9: () => Promise<void>;
}

function main(config: AsProcessConfig): void {
  try {
    const store = new AsStore(config.file, {
      create: config.create,
      secretKey: secretKeyFrom(process.env.AS_SECRET_KEY),
    });
    const server = new AuthorizationServer({
      payee: config.payee,
      verifier: new ReceiptVerifier({ ...config.domain, chainId: BigInt(config.domain.chainId) }),
      store,
      hotpWindow: config.hotpWindow,
    });
    server
      .listen(0)
      .then((url) => console.log(`listening ${url}`))
      .catch((error: Error) => {
        console.error(`error: ${error.message}`);
        process.exit(1);
      });
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    process.exit(1);
  }
}

/** Starts the AS process; resolves with its URL, or rejects with its one-line error if it exits first. */
export function startAsProcess(config: AsProcessConfig, env: NodeJS.ProcessEnv = {}): Promise<AsProcess> {
  const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", __filename, JSON.stringify(config)], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening (\S+)/.exec(out);
      if (match !== null)
        resolve({
          child,
          url: match[1],
          stderr: () => err,
          kill9: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
            await exited;
          },
        });
    });
    child.once("exit", (code) => reject(new Error(err.trim() === "" ? `AS exited with ${code}` : err.trim())));
  });
}

if (require.main === module) main(JSON.parse(process.argv[2]) as AsProcessConfig);

/** The channels domain of the AS suites that seed their channels in the store (no chain): a local deployment's. */
export const SEEDED_DOMAIN = {
  name: "ThingLedger PaymentChannels",
  version: "1",
  chainId: 31337n,
  verifyingContract: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
};
