import { formatEther, formatUnits } from "ethers";

import { withHttpFlags } from "../src/cli/http";
import type { HttpFlags } from "../src/cli/http";
import { defineTask } from "./lib";

defineTask(
  "relay:serve",
  "Runs an activation relayer: POST /relay takes an owner's signed relay request and pays its gas",
)
  .with(withHttpFlags)
  .addParam("signer", "The relayer's key, which pays the gas (an account index, vars:NAME, or a keystore file)")
  .addParam("maxFee", "The most THING an owner's request may offer as its maximum fee (requests above are refused)")
  .addOptionalParam("maxGasPrice", "Refuse to send (503, retry later) while the gas price is above this, in gwei")
  .addOptionalParam(
    "receiptTimeout",
    "Seconds a request waits for its receipt (504 naming the transaction after)",
    "120",
  )
  .addOptionalParam("port", "HTTP port", "8549")
  .addOptionalParam("host", "Interface to listen on", "127.0.0.1")
  .serve(
    async (
      args: HttpFlags & {
        signer: string;
        maxFee: string;
        maxGasPrice?: string;
        receiptTimeout: string;
        port: string;
        host: string;
      },
      hre,
    ) => {
      const { parseAmount, parseCount } = await import("../src/cli/parse");
      const { parseHttpFlags } = await import("../src/cli/http");
      const { serviceLogger } = await import("../src/http/log");
      const { serveRelayer } = await import("../src/relay");
      const { signerFrom, signerSource } = await import("./support/signers");
      const { loadSystem } = await import("./support/deployments");
      const http = parseHttpFlags(args);
      const policy = {
        maxFee: parseAmount("max-fee", args.maxFee),
        maxGasPrice: args.maxGasPrice === undefined ? undefined : parseAmount("max-gas-price", args.maxGasPrice, 9),
      };
      const receiptTimeoutSeconds = parseCount("receipt-timeout", args.receiptTimeout, 1);
      const port = parseCount("port", args.port);
      const source = signerSource(hre, "signer", args.signer);
      const signer = await signerFrom(hre, source);
      const logger = serviceLogger("relay", http.logLevel);
      const ctx = await loadSystem(hre, ["DeviceRegistry", "ThingToken"]);
      const running = await serveRelayer(ctx, signer, {
        policy,
        receiptTimeoutSeconds,
        port,
        host: args.host,
        http: { ...http, logger, processMetrics: true },
      });
      return {
        stop: () => running.stop(),
        summary: {
          network: hre.network.name,
          url: running.url,
          relayer: running.relayer,
          signer: source.description,
          balance: running.balance.toString(),
          maxFee: policy.maxFee.toString(),
          maxGasPrice: policy.maxGasPrice?.toString() ?? null,
          registry: ctx.addresses.DeviceRegistry,
        },
      };
    },
    (r) =>
      [
        `Signing as ${r.relayer} (${r.signer}): ${formatEther(r.balance)} ETH for gas`,
        `Relayer on network "${r.network}" for registry ${r.registry} listening at ${r.url}`,
        `  relays requests whose maximum fee is at most ${formatEther(r.maxFee)} THING${r.maxGasPrice === null ? "" : `, while gas costs at most ${formatUnits(r.maxGasPrice, 9)} gwei`}`,
        "  POST /relay, GET /health, GET /metrics; Ctrl-C stops it",
      ].join("\n"),
  );
