/**
 * An error caused by what the user asked for (bad input, wrong network, missing deployment). Tasks print
 * its message as one line, without a stack trace. Nothing has been changed on chain or on disk when one
 * is thrown before the first transaction.
 */
export class UserError extends Error {
  override readonly name = "UserError";
}

/** Throws a {@link UserError} with `message` unless `condition` holds. */
export function ensure(condition: unknown, message: string): asserts condition {
  if (!condition) {
    throw new UserError(message);
  }
}
