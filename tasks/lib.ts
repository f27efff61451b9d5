import { task } from "hardhat/config";
import { HardhatError } from "hardhat/internal/core/errors";
import { ERRORS } from "hardhat/internal/core/errors-list";
import { HardhatPluginError } from "hardhat/plugins";
import type { ConfigurableTaskDefinition, HardhatRuntimeEnvironment, TaskDefinition } from "hardhat/types";

import { printJson } from "../src/cli/output";
import { compileIfChanged } from "./support/compiled";
import { liveNetwork, missingRpcUrl } from "./support/networks";
import { withExample } from "./support/params";
import { UserError } from "../src/errors";

export const PLUGIN = "thingledger";

/**
 * True when `taskName` is the task the user typed on the command line (not one run from code or tests).
 * Hardhat prints full stack traces for every error on a headless Linux machine; a user error deserves
 * one line instead.
 */
function typedOnCommandLine(taskName: string): boolean {
  const cli = require.main?.filename ?? "";
  return /hardhat[\\/]internal[\\/]cli[\\/]/.test(cli) && process.argv.includes(taskName);
}

/** A low-level failure (DNS, refused, timed out) to reach the network's own RPC host, as Node reports it. */
function isRpcConnectionError(hre: HardhatRuntimeEnvironment, error: unknown): boolean {
  if (!("url" in hre.network.config)) return false;
  const e = (error ?? {}) as { code?: unknown; hostname?: unknown; address?: unknown };
  const codes = ["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT"];
  if (typeof e.code !== "string" || !codes.includes(e.code)) return false;
  const host = new URL(hre.network.config.url).hostname;
  return e.hostname === host || e.address === host;
}

/** A node's or ethers' refusal of a transaction whose sender cannot pay its gas and value. */
function notEnoughEth(error: unknown): boolean {
  const e = (error ?? {}) as { code?: unknown; message?: unknown };
  const message = typeof e.message === "string" ? e.message : "";
  return e.code === "INSUFFICIENT_FUNDS" || /insufficient funds|doesn't have enough funds/i.test(message);
}

/**
 * One line for a network that cannot be reached or answers with another chain id. A live network's RPC
 * URL often carries an API key, so only its host is shown.
 */
function networkProblem(hre: HardhatRuntimeEnvironment, wrongChain?: string): string {
  const name = hre.network.name;
  const url = "url" in hre.network.config ? hre.network.config.url : name;
  const live = liveNetwork(name);
  const where = live === undefined ? url : new URL(url).host;
  const fix = live === undefined ? "is the node running (npx hardhat node)?" : `check ${live.prefix}_RPC_URL`;
  if (wrongChain !== undefined) {
    return `network "${name}" at ${where} is chain ${wrongChain}, not chain ${hre.network.config.chainId}: ${fix}`;
  }
  return `cannot reach network "${name}" at ${where}: ${fix}`;
}

/**
 * Runs a task body (every task's, through {@link TaskBuilder}): compiles first if needed (so a fresh clone works, and typechain-types exist before `src/` is
 * loaded), turns a {@link UserError} into Hardhat's one-line plugin error, and prints either JSON or
 * the human summary.
 */
async function runTask<T>(
  hre: HardhatRuntimeEnvironment,
  task: string,
  json: boolean,
  body: () => Promise<T>,
  human: (result: T) => string,
): Promise<T> {
  // Not in a child of `hardhat coverage` (see hardhat.config.ts): that would overwrite the instrumented artifacts.
  // Skipped when nothing changed since the last compile a task ran (tasks/support/compiled.ts).
  if (process.env.THINGLEDGER_COVERAGE_RUN !== "1") await compileIfChanged(hre);
  try {
    const unconfigured = missingRpcUrl(hre.network.name);
    if (unconfigured !== undefined) throw new UserError(unconfigured);
    const result = await body();
    if (json) {
      printJson(result);
    } else {
      console.log(human(result));
    }
    return result;
  } catch (caught) {
    let error = caught;
    if (HardhatError.isHardhatErrorType(error, ERRORS.NETWORK.INVALID_GLOBAL_CHAIN_ID)) {
      const found = error.messageArguments.connectionChainId as unknown;
      error = new UserError(networkProblem(hre, found === undefined ? "another chain" : String(found)));
    } else if (
      HardhatError.isHardhatErrorType(error, ERRORS.NETWORK.NODE_IS_NOT_RUNNING) ||
      isRpcConnectionError(hre, error)
    ) {
      error = new UserError(networkProblem(hre));
    } else if (!(error instanceof UserError) && notEnoughEth(error)) {
      error = new UserError(
        "the signing account has too little ETH for this transaction's gas (and value): fund it, or sign with another --signer",
      );
    } else if (!(error instanceof UserError)) {
      // A contract's custom error (a call, an estimate or a mined transaction): named in one line.
      const { describeRevert } = await import("../src/chain/revert");
      const { plainReason } = await import("../src/chain/preflight");
      const why = describeRevert(error) ?? plainReason(error);
      if (why !== undefined) error = new UserError(`the contract refused: ${why}`);
    }
    if (error instanceof UserError) failWith(task, json, error);
    throw error;
  }
}

/** A {@link UserError} as one line: on the command line printed (JSON with `--json`) with exit code 1, else thrown. */
function failWith(task: string, json: boolean, error: UserError): never {
  if (typedOnCommandLine(task) && !process.argv.includes("--show-stack-traces")) {
    if (json) printJson({ error: error.message });
    else console.error(`Error: ${error.message}`);
    process.exit(1);
  }
  throw new HardhatPluginError(PLUGIN, error.message);
}

/** Renders a task's result for a person (`--json` prints the result itself instead). */
type Human<T, A> = (result: T, hre: HardhatRuntimeEnvironment, args: A) => string;

/** A started service: what it prints once it is listening, and how it stops. */
export interface Running<T> {
  summary: T;
  stop: () => Promise<void>;
  /** Resolves with a one-line reason if the service can no longer do its work: it is then stopped, and the
   * task fails with that line (exit code 1), for a supervisor to restart it. */
  failed?: Promise<string>;
}

/**
 * Waits for SIGINT or SIGTERM, then stops the service and resolves (also when stopping fails: the
 * process is on its way out).
 */
export function serveUntilSignal(stop: () => Promise<void>, failed?: Promise<string>): Promise<string | undefined> {
  return new Promise<string | undefined>((resolve) => {
    let ended = false;
    const done = (reason?: string) => {
      if (ended) return;
      ended = true;
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      stop().then(
        () => resolve(reason),
        () => resolve(reason),
      );
    };
    const onSignal = () => done();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    void failed?.then(done);
  });
}

type TaskParams = ConfigurableTaskDefinition;

/**
 * A task under construction: its parameters, then its action with {@link TaskBuilder.run} (a command) or
 * {@link TaskBuilder.serve} (a service that runs until Ctrl-C). Both add `--json` and run the action
 * through {@link runTask}, the one error and exit path.
 */
export class TaskBuilder {
  constructor(
    private readonly name: string,
    private readonly definition: TaskParams,
  ) {}

  addParam(...a: Parameters<TaskParams["addParam"]>): this {
    this.definition.addParam(...a);
    return this;
  }

  addOptionalParam(...a: Parameters<TaskParams["addOptionalParam"]>): this {
    this.definition.addOptionalParam(...a);
    return this;
  }

  addPositionalParam(...a: Parameters<TaskParams["addPositionalParam"]>): this {
    this.definition.addPositionalParam(...a);
    return this;
  }

  addFlag(...a: Parameters<TaskParams["addFlag"]>): this {
    this.definition.addFlag(...a);
    return this;
  }

  /** Adds a shared group of parameters, such as `withHttpFlags`. */
  with(params: (definition: TaskParams) => TaskParams): this {
    params(this.definition);
    return this;
  }

  /** Ends each parameter's description with its example from the central table (tasks/support/params.ts). */
  private addExamples(): void {
    // task() returns the whole definition; its parameter lists are what `--help` prints.
    const definition = this.definition as unknown as TaskDefinition;
    const params = [...Object.values(definition.paramDefinitions), ...definition.positionalParamDefinitions];
    for (const param of params) {
      if (param.isFlag) continue;
      (param as { description?: string }).description = withExample(this.name, param.name, param.description);
    }
  }

  /** The task's action: `body` computes the result, printed as JSON with `--json`, else as `human` renders it. */
  run<A extends object, T>(
    body: (args: A & { json: boolean }, hre: HardhatRuntimeEnvironment) => Promise<T>,
    human: Human<T, A & { json: boolean }>,
  ): void {
    const name = this.name;
    this.addExamples();
    this.definition.addFlag("json", "Print machine-readable JSON").setAction((args: A & { json: boolean }, hre) =>
      runTask(
        hre,
        name,
        args.json,
        () => body(args, hre),
        (result) => human(result, hre, args),
      ),
    );
  }

  /** A service's action: `start` brings it up; its summary is printed, then it runs until SIGINT or SIGTERM. */
  serve<A extends object, T>(
    start: (args: A & { json: boolean }, hre: HardhatRuntimeEnvironment) => Promise<Running<T>>,
    human: Human<T, A & { json: boolean }>,
  ): void {
    const name = this.name;
    this.addExamples();
    this.definition
      .addFlag("json", "Print machine-readable JSON (one line when listening)")
      .setAction(async (args: A & { json: boolean }, hre) => {
        let stop: (() => Promise<void>) | undefined;
        let failed: Promise<string> | undefined;
        await runTask(
          hre,
          name,
          args.json,
          async () => {
            const running = await start(args, hre);
            stop = running.stop;
            failed = running.failed;
            return running.summary;
          },
          (summary) => human(summary, hre, args),
        );
        const reason = stop === undefined ? undefined : await serveUntilSignal(stop, failed);
        if (reason !== undefined) failWith(name, args.json, new UserError(reason));
      });
  }
}

const defined: string[] = [];

/** The names of the tasks declared with {@link defineTask}, in declaration order. */
export function definedTasks(): readonly string[] {
  return defined;
}

/** Declares a ThingLedger task, its name given once; finish it with `.run(...)` or `.serve(...)`. */
export function defineTask(name: string, description: string): TaskBuilder {
  defined.push(name);
  return new TaskBuilder(name, task(name, description));
}
