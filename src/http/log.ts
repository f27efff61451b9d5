import pino from "pino";
import type { Logger } from "pino";

/**
 * A service's structured log: pino JSON lines on stderr (stdout stays free for the task's own output),
 * written synchronously so that nothing logged before a crash is lost.
 */
export function serviceLogger(name: string, level = "info"): Logger {
  return pino({ name, level }, pino.destination({ dest: 2, sync: true }));
}
