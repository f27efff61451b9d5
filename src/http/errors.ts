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

/**
 * The body of every refusal of a service: `error` for people, `reason` for programs (a stable snake_case
 * name: `window_full`, `wrong_amount`, `server_busy`, … listed in README), and `requestId` on a 500.
 */
export interface ErrorBody {
  error: string;
  reason: string;
  requestId?: string;
}
