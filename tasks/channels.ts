import { task } from "hardhat/config";

import { formatGas } from "../src/cli/output";
import { runTask } from "./lib";

task("sim:access", "Simulates paid access: an owner's group channel, an Authorization Server, clients and a device")
  .addOptionalParam("clients", "Client keys in the channel's group", "4")
  .addOptionalParam("slots", "Access slots each client buys", "3")
  .addOptionalParam("owner", "Index of the owner's local account", "0")
  .addOptionalParam("as", "Index of the Authorization Server's local account", "1")
  .addFlag("json", "Print machine-readable JSON")
  .setAction(async (args: { clients: string; slots: string; owner: string; as: string; json: boolean }, hre) => {
    await runTask(
      hre,
      "sim:access",
      args.json,
      async () => {
        const { parseCount } = await import("../src/cli/parse");
        const { Progress } = await import("../src/cli/progress");
        const { runAccessSimulation } = await import("../src/channels/simulation");
        const { signerAt } = await import("../src/token");
        const clients = parseCount("clients", args.clients, 1);
        const slots = parseCount("slots", args.slots, 1);
        const progress = new Progress("buying access slots", clients * slots, !args.json);
        return runAccessSimulation(hre, {
          clients,
          slots,
          owner: await signerAt(hre, parseCount("owner", args.owner)),
          as: await signerAt(hre, parseCount("as", args.as)),
          onSlot: (done) => progress.update(done),
        });
      },
      (r) =>
        [
          `Access simulation on network "${r.network}": ${r.clients} client(s) × ${r.slots} slot(s) at ${r.price} ETH`,
          `  channel ${r.channelId}`,
          `  slots bought ${r.slotsBought}, receipts stored ${r.receipts}, OTPs accepted ${r.otpsAccepted}, rejected ${r.otpsRejected} (a replayed code)`,
          `  gas: open ${formatGas(r.gas.open)}, close ${formatGas(r.gas.close)}`,
          `  AS paid ${r.paidToAs} ETH, owner refunded ${r.refundedToOwner} ETH`,
          `  balances: owner ${r.balances.owner} ETH, AS ${r.balances.authorizationServer} ETH (${r.seconds.toFixed(1)} s)`,
        ].join("\n"),
    );
  });
