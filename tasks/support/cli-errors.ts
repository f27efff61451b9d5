import { HardhatError } from "hardhat/internal/core/errors";

/** True when this process is the `hardhat` command line (not a test runner or a script importing Hardhat). */
function onCommandLine(): boolean {
  const cli = require.main?.filename ?? "";
  return /hardhat[\\/]internal[\\/]cli[\\/]/.test(cli) && !process.argv.includes("--show-stack-traces");
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
  const network = requestedNetwork();
  if (network !== undefined && !networks.includes(network)) {
    console.error(`Error: network "${network}" is not configured; the networks are: ${networks.join(", ")}`);
    process.exit(1);
  }
  const original = console.error.bind(console);
  console.error = (...args: unknown[]) => {
    if (args.length === 1 && HardhatError.isHardhatError(args[0])) return;
    original(...args);
  };
}
