/**
 * An error the client caused, or a fault it may retry (503): answered with its status and a message naming
 * the problem; nothing changed. `reason` labels it in the rejection metrics (default: the status's name).
 */
export class Rejected extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}
