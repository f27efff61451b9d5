import { Counter } from "prom-client";

import { ServiceMetrics } from "../http/metrics";

/** The relayer's metrics: the shared ones, relayed activations and the gas they cost the relayer. */
export class RelayMetrics extends ServiceMetrics {
  /** Activations relayed and mined. */
  readonly relayed: Counter;
  /** Gas the relayer's mined transactions used. */
  readonly gasUsed: Counter;

  constructor(options: { processMetrics?: boolean } = {}) {
    super("thingledger_relay_", options);
    const registers = [this.registry];
    this.relayed = new Counter({
      name: `${this.prefix}activations_total`,
      help: "Activations relayed and mined",
      registers,
    });
    this.gasUsed = new Counter({
      name: `${this.prefix}gas_used_total`,
      help: "Gas the relayed transactions used",
      registers,
    });
  }
}
