/**
 * The first Ctrl-C (SIGINT) or SIGTERM of a long command, as an `AbortSignal`: the work stops at its next
 * safe point (e.g. after the transaction in flight is mined) and says where it stopped. A second one ends
 * the process at once, as usual (the handlers are installed once).
 */
export function interruptSignal(stream: { write(text: string): boolean } = process.stderr): {
  signal: AbortSignal;
  dispose(): void;
} {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    stream.write(`\n${signal}: stopping after the transaction in flight (again to quit at once)\n`);
    controller.abort(signal);
    dispose();
  };
  const dispose = () => {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return { signal: controller.signal, dispose };
}
