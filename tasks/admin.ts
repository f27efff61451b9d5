import { ZeroAddress } from "ethers";

import { formatGas } from "../src/cli/output";
import { formatThing } from "../src/units";
import { defineTask } from "./lib";

defineTask(
  "manufacturer:withdraw",
  "A manufacturer (active or removed) withdraws its whole fee credit to its payout address",
)
  .addOptionalParam("signer", "Index of the manufacturer's local account", "0")
  .run(
    async (args: { signer: string }, hre) => {
      const { withdrawFeeCredit } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const manufacturer = await signerOption(hre, "signer", args.signer);
      return withdrawFeeCredit(await loadSystem(hre, ["DeviceRegistry"]), manufacturer);
    },
    (r) =>
      `Manufacturer #${r.id} (${r.account}) withdrew ${formatThing(r.amount)} of fee credit to ${r.payout}; gas ${formatGas(r.gasUsed)}`,
  );

defineTask(
  "registry:collect-fees",
  "Moves the fees manufacturers paid from their credit into the reward pool (anyone may; no one's credit changes)",
)
  .addOptionalParam(
    "manufacturers",
    "Comma-separated manufacturer accounts (at most 100); default: those with the most uncollected fees",
  )
  .addOptionalParam("signer", "The sender's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { manufacturers?: string; signer: string }, hre) => {
      const { parseAddress } = await import("../src/cli/parse");
      const { registryAt } = await import("../src/chain/context");
      const { MAX_COLLECT_ACCOUNTS, checkCollectAccounts, collectPaidFees, uncollectedFees } =
        await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const named = args.manufacturers?.split(",").map((a) => parseAddress("manufacturers", a.trim()));
      const registry = registryAt(
        await loadSystem(hre, ["DeviceRegistry"]),
        await signerOption(hre, "signer", args.signer),
      );
      const accounts =
        named === undefined
          ? (await uncollectedFees(registry)).slice(0, MAX_COLLECT_ACCOUNTS).map((f) => f.account)
          : await checkCollectAccounts(registry, named);
      return collectPaidFees(registry, accounts);
    },
    (r) =>
      r.txHash === undefined
        ? `No fees paid from credit await collection; nothing was sent (reward pool ${formatThing(r.poolBefore)})`
        : `Collected ${formatThing(r.collected)} of fees paid from credit from ${r.accounts.length} manufacturer(s) into the reward pool (${formatThing(r.poolBefore)} -> ${formatThing(r.poolAfter)}); gas ${formatGas(r.gasUsed)}`,
  );

defineTask(
  "whitelist:close",
  "Closes a committed whitelist root (its manufacturer or the admin): its unactivated devices can no longer register",
)
  .addParam("root", "The whitelist root (0x…64 hex), as device:register --merkle printed it")
  .addOptionalParam(
    "manufacturer",
    "The root's manufacturer id (required when the admin closes it); default: the --signer manufacturer's own id",
  )
  .addOptionalParam("signer", "Index of the manufacturer's or admin's local account", "0")
  .run(
    async (args: { root: string; manufacturer?: string; signer: string }, hre) => {
      const { parseCount } = await import("../src/cli/parse");
      const { UserError } = await import("../src/errors");
      const { closeWhitelist, closingManufacturerId } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      if (!/^0x[0-9a-fA-F]{64}$/.test(args.root)) throw new UserError(`--root: "${args.root}" is not 32 bytes of hex`);
      const root = args.root.toLowerCase();
      const signer = await signerOption(hre, "signer", args.signer);
      const ctx = await loadSystem(hre, ["DeviceRegistry"]);
      const id =
        args.manufacturer !== undefined
          ? parseCount("manufacturer", args.manufacturer, 1)
          : await closingManufacturerId(ctx, await signer.getAddress());
      return closeWhitelist(ctx, signer, id, root);
    },
    (r) =>
      `Closed whitelist root ${r.root} of manufacturer #${r.manufacturerId}: ${r.used} device(s) registered from it, ${r.unused} unused place(s) released; gas ${formatGas(r.gasUsed)}`,
  );

defineTask("fees:set", "Sets the registration and/or activation fee (network admin only; committed roots keep theirs)")
  .addOptionalParam("registration", "New registration fee in THING (0 allowed); default: unchanged")
  .addOptionalParam("activation", "New activation fee in THING (0 allowed); default: unchanged")
  .addOptionalParam("signer", "Index of the admin's local account", "0")
  .run(
    async (args: { registration?: string; activation?: string; signer: string }, hre) => {
      const { parseFee } = await import("../src/cli/parse");
      const { UserError } = await import("../src/errors");
      const { setFees } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      if (args.registration === undefined && args.activation === undefined) {
        throw new UserError("pass --registration and/or --activation (the new fee in THING)");
      }
      const change = {
        registrationFee: args.registration === undefined ? undefined : parseFee("registration", args.registration),
        activationFee: args.activation === undefined ? undefined : parseFee("activation", args.activation),
      };
      const admin = await signerOption(hre, "signer", args.signer);
      return setFees(await loadSystem(hre, ["DeviceRegistry"]), admin, change);
    },
    (r) =>
      [
        `Fees set: registration ${formatThing(r.before.registrationFee)} -> ${formatThing(r.after.registrationFee)}, activation ${formatThing(r.before.activationFee)} -> ${formatThing(r.after.activationFee)}`,
        `  gas ${formatGas(r.gasUsed)}`,
      ].join("\n"),
  );

defineTask(
  "admin:transfer",
  "Proposes a new network admin (step 1 of 2: the new admin runs admin:accept; the old one keeps its powers until then)",
)
  .addOptionalParam("to", "The proposed admin's address (e.g. a multisig; not the zero address: use --cancel)")
  .addFlag("cancel", "Cancel the pending handover instead")
  .addOptionalParam("signer", "Index of the current admin's local account", "0")
  .run(
    async (args: { to?: string; cancel: boolean; signer: string }, hre) => {
      const { parseAddress } = await import("../src/cli/parse");
      const { UserError } = await import("../src/errors");
      const { proposeAdmin } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      if (args.cancel === (args.to !== undefined))
        throw new UserError("pass either --to ADDR (the new admin) or --cancel");
      const successor = args.to === undefined ? ZeroAddress : parseAddress("to", args.to);
      if (args.to !== undefined && successor === ZeroAddress) {
        throw new UserError(
          "--to: the zero address cannot be the admin; to cancel a pending handover, pass --cancel instead; nothing was sent",
        );
      }
      const admin = await signerOption(hre, "signer", args.signer);
      return proposeAdmin(await loadSystem(hre, ["DeviceRegistry"]), admin, successor);
    },
    (r) =>
      r.pendingAdmin === ZeroAddress
        ? `Cancelled the pending admin handover; ${r.admin} stays admin; gas ${formatGas(r.gasUsed)}`
        : `Proposed ${r.pendingAdmin} as network admin; it now runs admin:accept (until then ${r.admin} stays admin); gas ${formatGas(r.gasUsed)}`,
  );

defineTask("admin:accept", "The proposed admin accepts the admin role (step 2 of 2)")
  .addOptionalParam("signer", "Index of the proposed admin's local account", "0")
  .run(
    async (args: { signer: string }, hre) => {
      const { acceptAdmin } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const successor = await signerOption(hre, "signer", args.signer);
      return acceptAdmin(await loadSystem(hre, ["DeviceRegistry"]), successor);
    },
    (r) => `${r.admin} is now the network admin; the previous admin has no powers left; gas ${formatGas(r.gasUsed)}`,
  );
