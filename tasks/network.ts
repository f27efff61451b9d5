import { ZeroAddress, formatUnits } from "ethers";

import { formatGas, formatTable } from "../src/cli/output";
import { defineTask } from "./lib";

defineTask("manufacturer:add", "Admits a manufacturer (network admin only)")
  .addParam("account", "The manufacturer's account address")
  .addOptionalParam("payout", "Address that receives its withdrawn fee credit (default: --account)")
  .addOptionalParam("score", "Default reputation score (0-1000) of its devices until audited", "500")
  .addOptionalParam("signer", "The admin's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { account: string; payout?: string; score: string; signer: string }, hre) => {
      const { parseAddress, parseCount } = await import("../src/cli/parse");
      const { addManufacturer } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const account = parseAddress("account", args.account);
      const payout = args.payout === undefined ? account : parseAddress("payout", args.payout);
      const score = parseCount("score", args.score);
      const admin = await signerOption(hre, "signer", args.signer);
      return addManufacturer(await loadSystem(hre, ["DeviceRegistry"]), admin, account, payout, score);
    },
    (r) =>
      `Manufacturer #${r.id} ${r.account} admitted (payout ${r.payout}, default score ${r.defaultScore}); gas ${formatGas(r.gasUsed)}`,
  );

defineTask("manufacturer:remove", "Removes a manufacturer (network admin only); its devices and credit stay")
  .addParam("account", "The manufacturer's account address")
  .addOptionalParam("signer", "The admin's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { account: string; signer: string }, hre) => {
      const { parseAddress } = await import("../src/cli/parse");
      const { removeManufacturer } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const account = parseAddress("account", args.account);
      const admin = await signerOption(hre, "signer", args.signer);
      return removeManufacturer(await loadSystem(hre, ["DeviceRegistry"]), admin, account);
    },
    (r) =>
      `Manufacturer #${r.id} ${r.account} removed; its devices stay valid and its credit (${formatUnits(r.credit, 18)} THING) stays withdrawable with manufacturer:withdraw; gas ${formatGas(r.gasUsed)}`,
  );

defineTask(
  "manufacturer:propose-account",
  "A manufacturer proposes a new account for itself (step 1 of 2 of its key rotation; the new account accepts)",
)
  .addOptionalParam("account", "The new account (it must have no manufacturer record of its own)")
  .addFlag("cancel", "Cancel the pending proposal instead")
  .addOptionalParam(
    "signer",
    "The manufacturer's current signer (an account index, vars:NAME, or a keystore file)",
    "0",
  )
  .run(
    async (args: { account?: string; cancel: boolean; signer: string }, hre) => {
      const { UserError } = await import("../src/errors");
      const { parseAddress } = await import("../src/cli/parse");
      const { proposeManufacturerAccount } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      if (args.cancel === (args.account !== undefined)) {
        throw new UserError("pass either --account ADDR (the new account) or --cancel");
      }
      const newAccount = args.account === undefined ? ZeroAddress : parseAddress("account", args.account);
      const signer = await signerOption(hre, "signer", args.signer);
      return proposeManufacturerAccount(await loadSystem(hre, ["DeviceRegistry"]), signer, newAccount);
    },
    (r) =>
      r.newAccount === ZeroAddress
        ? `Manufacturer #${r.id} (${r.account}) cancelled its pending account change; gas ${formatGas(r.gasUsed)}`
        : `Manufacturer #${r.id} (${r.account}) proposed ${r.newAccount} as its new account; that account now runs manufacturer:accept-account --id ${r.id}; gas ${formatGas(r.gasUsed)}`,
  );

defineTask(
  "manufacturer:accept-account",
  "The proposed account takes over a manufacturer: its id, credit, payout, devices and whitelists (step 2 of 2)",
)
  .addParam("id", "The manufacturer's id")
  .addOptionalParam(
    "signer",
    "The proposed (new) account's signer (an account index, vars:NAME, or a keystore file)",
    "0",
  )
  .run(
    async (args: { id: string; signer: string }, hre) => {
      const { parseCount } = await import("../src/cli/parse");
      const { acceptManufacturerAccount } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const id = parseCount("id", args.id, 1);
      const signer = await signerOption(hre, "signer", args.signer);
      return acceptManufacturerAccount(await loadSystem(hre, ["DeviceRegistry"]), signer, id);
    },
    (r) =>
      `Manufacturer #${r.id} moved from ${r.oldAccount} to ${r.newAccount} (payout ${r.payout}, credit ${formatUnits(r.credit, 18)} THING); the old account has no powers left; gas ${formatGas(r.gasUsed)}`,
  );

defineTask("manufacturer:list", "Lists the network's manufacturers").run(
  async (args, hre) => {
    const { listManufacturers } = await import("../src/registry");
    const { loadSystem } = await import("./support/deployments");
    return listManufacturers(await loadSystem(hre, ["DeviceRegistry"]));
  },
  (list) => {
    if (list.length === 0) return "No manufacturers yet (the network admin runs manufacturer:add).";
    return formatTable(
      ["id", "account", "payout", "score", "active", "fee credit"],
      list.map((m) => [
        String(m.id),
        m.account,
        m.payout,
        String(m.defaultScore),
        m.active ? "yes" : "no",
        `${formatUnits(m.credit, 18)} THING`,
      ]),
      [1, 2, 4],
    );
  },
);
