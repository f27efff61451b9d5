import { stripVTControlCharacters } from "node:util";

import { ArgumentsParser } from "hardhat/internal/cli/ArgumentsParser";
import { HardhatContext } from "hardhat/internal/context";
import { HardhatError } from "hardhat/internal/core/errors";
import { HARDHAT_PARAM_DEFINITIONS } from "hardhat/internal/core/params/hardhat-params";
import type { TaskDefinition, TasksMap } from "hardhat/types";

import { printJson } from "../../src/cli/output";

/** True when this process is the `hardhat` command line (not a test runner or a script importing Hardhat). */
export function hardhatCommandLine(): boolean {
  return /hardhat[\\/]internal[\\/]cli[\\/]/.test(require.main?.filename ?? "");
}

/** On the command line, and not asked for Hardhat's stack traces. */
function onCommandLine(): boolean {
  return hardhatCommandLine() && !process.argv.includes("--show-stack-traces");
}

/** The `--network` the command line names, or HARDHAT_NETWORK. */
function requestedNetwork(): string | undefined {
  const at = process.argv.indexOf("--network");
  if (at >= 0) return process.argv[at + 1];
  return process.env.HARDHAT_NETWORK;
}

/**
 * Hardhat prints a full stack trace after its own one-line message whenever it believes it runs on a CI
 * server, which includes every Linux machine without a display (a server, a container, an SSH session).
 * A mistyped network or task name is the user's, not a bug. On the command line (without
 * `--show-stack-traces`): an unknown `--network` fails here with one line that lists the known ones, and
 * the trace Hardhat prints after its message for its own errors (an unknown task, say) is dropped.
 */
export function oneLineHardhatErrors(networks: readonly string[]): void {
  if (!onCommandLine()) return;
  const json = process.argv.includes("--json");
  const fail = (message: string): never => {
    if (json) printJson({ error: message });
    else console.error(`Error: ${message}`);
    process.exit(1);
  };
  const network = requestedNetwork();
  if (network !== undefined && !networks.includes(network)) {
    fail(`network "${network}" is not configured; the networks are: ${networks.join(", ")}`);
  }
  const original = console.error.bind(console);
  console.error = (...args: unknown[]) => {
    if (args.length === 1 && HardhatError.isHardhatError(args[0])) return;
    // Hardhat prints its own errors as "Error" and "HHnnn: message". A usage error of a task (a bare value,
    // an unknown or repeated parameter, a parameter without its value, a value of the wrong type) becomes
    // one line naming the task's usage; with --json, every one of them becomes {"error": …}.
    const [label, raw] = args.map((a) => (typeof a === "string" ? stripVTControlCharacters(a) : undefined));
    if (args.length === 2 && label === "Error" && raw !== undefined && /^HH\d+: /.test(raw)) {
      const oneLine = raw.replace(/\s+/g, " ").trim();
      const usage = usageError(oneLine, process.argv.slice(2));
      if (usage !== undefined) fail(usage);
      if (json) fail(oneLine);
    }
    original(...args);
  };
}

type Problem = (m: RegExpExecArray, argv: readonly string[], task: TaskDefinition) => string;

/** How Hardhat's usage errors (its ARGUMENTS errors about a task's parameters) read, and the problem each names. */
const USAGE_ERRORS: readonly [RegExp, Problem][] = [
  [
    /^HH306: The '(--[\w-]+)' parameter of task '[^']+' expects a value/,
    (m, argv, task) => missingValue(m[1], argv, task),
  ],
  [/^HH305: Unrecognized param (\S+)/, (m) => `unknown parameter ${m[1]}`],
  [/^HH308: Unrecognized positional argument (.*)$/, (m) => `"${m[1]}" was given without a parameter name`],
  [/^HH307: Missing positional argument (\S+)/, (m) => `missing ${m[1]}`],
  [/^HH309: Repeated parameter (\S+)/, (m) => `${m[1]} is given more than once`],
  [/^HH310: Invalid param (\S+)\./, (m) => `${m[1]}: parameter names are lower case`],
  [
    /^HH301: Invalid value (.*) for argument (\S+) of type (\S+)$/,
    (m) => `${m[1]} is not a valid ${m[3]} for ${ArgumentsParser.paramNameToCLA(m[2])}`,
  ],
  [/^HH302: Invalid argument (\S+): File (.*) doesn't exist/, (m) => `${m[2]} is not a readable file (${m[1]})`],
  [/^HH311: Error parsing JSON value for argument (\S+): (.*)$/, (m) => `${m[1]} is not valid JSON (${m[2]})`],
];

/**
 * The one line for a usage error of the task on the command line (`problem: task takes --a <a> [options];
 * see npx hardhat help task`), or undefined when `message` is not one (or names no known task).
 */
export function usageError(message: string, argv: readonly string[]): string | undefined {
  const tasks = HardhatContext.isCreated() ? HardhatContext.getHardhatContext().tasksDSL.getTaskDefinitions() : {};
  const name = typedTask(argv, tasks);
  if (name === undefined) return undefined;
  for (const [pattern, problem] of USAGE_ERRORS) {
    const m = pattern.exec(message);
    if (m !== null)
      return `${problem(m, argv, tasks[name])}: ${name} takes ${usageOf(tasks[name])}; see npx hardhat help ${name}`;
  }
  return undefined;
}

/** Hardhat's own parameters (`--network`, `--config`, ...), by name. */
const HARDHAT_PARAMS = HARDHAT_PARAM_DEFINITIONS as unknown as Record<string, { isFlag: boolean } | undefined>;

/** Whether `arg` names a parameter (Hardhat's own, or one of `task`'s) that takes the next argument as its value. */
function takesValue(arg: string, task?: TaskDefinition): boolean {
  if (!arg.startsWith("--")) return false;
  const name = ArgumentsParser.cLAToParamName(arg);
  const param = HARDHAT_PARAMS[name] ?? task?.paramDefinitions[name];
  return param !== undefined && !param.isFlag;
}

/**
 * The first argument that is not one of Hardhat's own parameters (`--network NAME`, ...) or their values:
 * where Hardhat looks for the task's name (`argv` without node and the script).
 */
export function taskArgument(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith("--")) {
      if (takesValue(argv[i])) i++;
      continue;
    }
    return argv[i];
  }
  return undefined;
}

/** The task the first argument past Hardhat's own parameters names, if it is one of `tasks`. */
function typedTask(argv: readonly string[], tasks: TasksMap): string | undefined {
  const name = taskArgument(argv);
  return name !== undefined && Object.hasOwn(tasks, name) ? name : undefined;
}

/** A task's usage: its required parameters by name, then "[options]" when it has others. */
function usageOf(definition: TaskDefinition): string {
  const named = Object.values(definition.paramDefinitions);
  const required = named
    .filter((p) => !p.isOptional && !p.isFlag)
    .map((p) => `${ArgumentsParser.paramNameToCLA(p.name)} <${p.name}>`);
  const positional = definition.positionalParamDefinitions.filter((p) => !p.isOptional).map((p) => `<${p.name}>`);
  const more = required.length + positional.length < named.length + definition.positionalParamDefinitions.length;
  const usage = [...required, ...positional, ...(more ? ["[options]"] : [])].join(" ");
  return usage === "[options]" ? "named options only" : usage;
}

/**
 * Hardhat reports a required parameter as missing (HH306) before it looks at a bare value after the task
 * name, so `reputation:show 0x1234` said only that `--device` expects a value. Every ThingLedger parameter
 * is named: the line then says which value was given bare and how to name it.
 */
function missingValue(param: string, argv: readonly string[], task: TaskDefinition): string {
  const after = argv.slice(argv.indexOf(task.name) + 1);
  const bare = after.find((a, i) => !a.startsWith("-") && (i === 0 || !takesValue(after[i - 1], task)));
  if (bare !== undefined) return `"${bare}" was given without a name (${param} ${bare})`;
  return argv.includes(param) ? `${param} needs a value` : `${param} is required`;
}
