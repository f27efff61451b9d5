import { formatUnits } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { formatGas } from "../src/cli/output";
import type { ActionFlags } from "../src/cli/wallets";
import { defineTask } from "./lib";

/** The part of the system the wallet tasks use. */
async function walletSystem(hre: HardhatRuntimeEnvironment) {
  const { loadSystem } = await import("./support/deployments");
  return loadSystem(hre, ["ThingToken", "DeviceRegistry", "DeviceWalletFactory"]);
}

/** `1.5 ETH`. */
function shown(value: bigint, asset: { decimals: number; symbol: string }): string {
  return `${formatUnits(value, asset.decimals)} ${asset.symbol}`;
}

defineTask("wallet:create", "Creates a device wallet: M-of-N owners, the device key spending alone under limits")
  .addParam("owners", "Owner addresses, comma-separated")
  .addParam("threshold", "How many owners must sign an execution")
  .addParam("device", "Device id (0x…64 hex) or raw unique id, as registered")
  .addParam("limits", "Per-period limits of the device, e.g. eth=0.5,token=100 (or ERC20ADDRESS=5)")
  .addOptionalParam("period", "Length of a spending period: 3600s, 30m, 12h, 1d", "1d")
  .addOptionalParam(
    "deviceKey",
    "The device key that may spend: must be the registry's key of the device (the default)",
  )
  .addOptionalParam(
    "signer",
    "The creator's signer; if it owns the device, it hands it over (an account index, vars:NAME, or a keystore file)",
    "0",
  )
  .run(
    async (
      args: {
        owners: string;
        threshold: string;
        device: string;
        limits: string;
        period: string;
        deviceKey?: string;
        signer: string;
      },
      hre,
    ) => {
      const { parseAddress, parseCount, parseDuration } = await import("../src/cli/parse");
      const { parseAddresses, parseLimits } = await import("../src/cli/wallets");
      const { resolveDevice } = await import("../src/registry");
      const { signerOption } = await import("./support/signers");
      const { createWallet } = await import("../src/wallets");
      const owners = parseAddresses("owners", args.owners);
      const threshold = parseCount("threshold", args.threshold, 1);
      const deviceKey = args.deviceKey === undefined ? undefined : parseAddress("device-key", args.deviceKey);
      const period = parseDuration("period", args.period);
      const ctx = await walletSystem(hre);
      const limits = await parseLimits(ctx, args.limits);
      const deviceId = await resolveDevice(await walletSystem(hre), args.device);
      const creator = await signerOption(hre, "signer", args.signer);
      return createWallet(ctx, creator, { owners, threshold, deviceId, deviceKey, period, limits });
    },
    (r) =>
      [
        `Created device wallet ${r.wallet}`,
        `  owners ${r.owners.join(", ")} (threshold ${r.threshold})`,
        `  device ${r.deviceId}, key ${r.deviceKey}, period ${r.period} s`,
        `  limits ${r.limits.map((l) => shown(l.limit, l)).join(", ")} per period`,
        r.deviceTransferred ? "  the device's registry record now belongs to the wallet (linked)" : "",
        r.next === undefined ? "" : `  next: ${r.next} (device:transfer --device ${r.deviceId} --to ${r.wallet})`,
        `  gas ${formatGas(r.gasUsed)}`,
      ]
        .filter((l) => l !== "")
        .join("\n"),
  );

defineTask("wallet:propose", "Writes an unsigned owner execution to a JSON file for the owners to sign")
  .addParam("wallet", "The device wallet's address")
  .addParam("out", "The proposal file to write")
  .addFlag("force", "Overwrite --out if it exists")
  .addOptionalParam("to", "Call target, or the recipient of --amount")
  .addOptionalParam("value", "ETH to send with the call, e.g. 1.5", "0")
  .addOptionalParam("data", "Calldata of the call (0x…)", "0x")
  .addOptionalParam("asset", "With --amount: transfer this ERC-20 (token, or an address) to --to")
  .addOptionalParam("amount", "With --asset: the amount to transfer")
  .addOptionalParam(
    "rotateKey",
    "Instead: set the device key to this address, once the registry holds it (after a rotation)",
  )
  .addOptionalParam("gasLimit", "Gas the inner call gets (default: estimated)")
  .addOptionalParam("nonce", "The wallet nonce to use (default: the next one)")
  .addFlag("unfreeze", "Instead: unfreeze the device key")
  .run(
    async (
      args: ActionFlags & { wallet: string; out: string; force: boolean; gasLimit?: string; nonce?: string },
      hre,
    ) => {
      const { ensureWritable } = await import("../src/cli/files");
      ensureWritable(args.out, { force: args.force, flag: "out" });
      const { parseAddress, parseCount } = await import("../src/cli/parse");
      const { parseWalletAction } = await import("../src/cli/wallets");
      const { propose, resolveAction, writeProposal } = await import("../src/wallets");
      const wallet = parseAddress("wallet", args.wallet);
      const ctx = await walletSystem(hre);
      const action = await parseWalletAction(ctx, args);
      const { to, value, data, description } = await resolveAction(ctx, wallet, action);
      const proposal = await propose(ctx, {
        wallet,
        to,
        value,
        data,
        gasLimit: args.gasLimit === undefined ? undefined : BigInt(parseCount("gas-limit", args.gasLimit)),
        nonce: args.nonce === undefined ? undefined : BigInt(parseCount("nonce", args.nonce)),
        description,
      });
      writeProposal(args.out, proposal, { force: args.force, flag: "out" });
      return { file: args.out, ...proposal };
    },
    (r) =>
      `Proposal for wallet ${r.wallet}, nonce ${r.nonce}: ${r.description}\n  written to ${r.file}; each owner signs it with wallet:sign --file ${r.file}`,
  );

defineTask("wallet:set-limit", "Proposes a new per-period limit for the device (owners then sign and execute it)")
  .addParam("wallet", "The device wallet's address")
  .addParam("asset", "eth, token, or an ERC-20 address")
  .addParam("limit", "The new limit per period, e.g. 0.5 (0 stops the device spending this asset)")
  .addParam("out", "The proposal file to write")
  .addFlag("force", "Overwrite --out if it exists")
  .run(
    async (args: { wallet: string; asset: string; limit: string; out: string; force: boolean }, hre) => {
      const { ensureWritable } = await import("../src/cli/files");
      ensureWritable(args.out, { force: args.force, flag: "out" });
      const { parseAddress } = await import("../src/cli/parse");
      const { parseLimit } = await import("../src/cli/wallets");
      const { proposeLimit, resolveAsset, writeProposal } = await import("../src/wallets");
      const wallet = parseAddress("wallet", args.wallet);
      const ctx = await walletSystem(hre);
      const asset = await resolveAsset(ctx, args.asset);
      const proposal = await proposeLimit(ctx, wallet, asset, parseLimit(asset, args.limit));
      writeProposal(args.out, proposal, { force: args.force, flag: "out" });
      return { file: args.out, ...proposal };
    },
    (r) =>
      `Proposal for wallet ${r.wallet}, nonce ${r.nonce}: ${r.description}\n  written to ${r.file}; each owner signs it with wallet:sign --file ${r.file}`,
  );

defineTask("wallet:sign", "Adds one owner's signature to a proposal file (owners may sign on separate machines)")
  .addParam("file", "The proposal file")
  .addOptionalParam("signer", "The owner's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { file: string; signer: string }, hre) => {
      const { signerOption } = await import("./support/signers");
      const { signProposal } = await import("../src/wallets");
      return signProposal(await walletSystem(hre), args.file, await signerOption(hre, "signer", args.signer));
    },
    (r) =>
      `${r.signer} signed ${r.file}: ${r.signatures} of ${r.threshold} signature(s)${r.ready ? `, ready: wallet:exec --file ${r.file}` : ""}`,
  );

defineTask("wallet:exec", "Executes a proposal that carries enough owner signatures (anyone may relay it)")
  .addParam("file", "The proposal file")
  .addOptionalParam(
    "signer",
    "The signer that sends and pays the gas (an account index, vars:NAME, or a keystore file)",
    "0",
  )
  .run(
    async (args: { file: string; signer: string }, hre) => {
      const { signerOption } = await import("./support/signers");
      const { executeProposal } = await import("../src/wallets");
      return executeProposal(await walletSystem(hre), args.file, await signerOption(hre, "signer", args.signer));
    },
    (r) =>
      r.success
        ? `Executed nonce ${r.nonce} of wallet ${r.wallet}: call to ${r.to} succeeded; gas ${formatGas(r.gasUsed)}`
        : `Executed nonce ${r.nonce} of wallet ${r.wallet}, but the inner call to ${r.to} FAILED (the nonce is spent; propose again); gas ${formatGas(r.gasUsed)}`,
  );

defineTask(
  "wallet:device-spend",
  "The device spends from its wallet under its limits, sending itself or through a relayer",
)
  .addParam("wallet", "The device wallet's address")
  .addParam("device", "Device id (0x…64 hex) or raw unique id")
  .addParam("keystore", "Directory of device keystores")
  .addParam("to", "Recipient")
  .addParam("amount", "Amount, e.g. 0.1")
  .addOptionalParam("asset", "eth, token, or an ERC-20 address", "eth")
  .addOptionalParam(
    "relayer",
    "A relayer for the device's signed transfer, who pays the gas (an account index, vars:NAME, or a keystore file)",
  )
  .run(
    async (
      args: {
        wallet: string;
        device: string;
        keystore: string;
        to: string;
        amount: string;
        asset: string;
        relayer?: string;
      },
      hre,
    ) => {
      const { parseAddress, parseAmount } = await import("../src/cli/parse");
      const { unlockDeviceKey } = await import("../src/devices/keystore");
      const { resolveDevice } = await import("../src/registry");
      const { signerOption } = await import("./support/signers");
      const { deviceSpend, resolveAsset } = await import("../src/wallets");
      const wallet = parseAddress("wallet", args.wallet);
      const to = parseAddress("to", args.to);
      const ctx = await walletSystem(hre);
      const asset = await resolveAsset(ctx, args.asset);
      const amount = parseAmount("amount", args.amount, asset.decimals);
      const relayer = args.relayer === undefined ? undefined : await signerOption(hre, "relayer", args.relayer);
      const device = await unlockDeviceKey(
        args.keystore,
        await resolveDevice(await walletSystem(hre), args.device, args.keystore),
      );
      return deviceSpend(ctx, { wallet, device, asset, to, amount, relayer });
    },
    (r) =>
      `The device paid ${shown(r.amount, r)} to ${r.to}${r.relayed ? " (signed by the device, relayed)" : ""}; ${shown(r.availableAfter, r)} left this period; gas ${formatGas(r.gasUsed)}`,
  );

defineTask(
  "wallet:freeze",
  "One owner freezes the device key at once (unfreezing takes the owners: wallet:propose --unfreeze)",
)
  .addParam("wallet", "The device wallet's address")
  .addOptionalParam("signer", "The owner's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { wallet: string; signer: string }, hre) => {
      const { parseAddress } = await import("../src/cli/parse");
      const { signerOption } = await import("./support/signers");
      const { freezeDevice } = await import("../src/wallets");
      const wallet = parseAddress("wallet", args.wallet);
      return freezeDevice(await walletSystem(hre), wallet, await signerOption(hre, "signer", args.signer));
    },
    (r) => `${r.by} froze the device key of wallet ${r.wallet}; gas ${formatGas(r.gasUsed)}`,
  );

defineTask("wallet:fund", "Sends ETH and tokens from a local account to a device wallet")
  .addParam("wallet", "The device wallet's address")
  .addParam("amounts", "What to send, e.g. eth=1,token=100 (or ERC20ADDRESS=5)")
  .addOptionalParam("signer", "The sender's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { wallet: string; amounts: string; signer: string }, hre) => {
      const { parseAddress } = await import("../src/cli/parse");
      const { signerOption } = await import("./support/signers");
      const { parseAmounts } = await import("../src/cli/wallets");
      const { fundWallet } = await import("../src/wallets");
      const wallet = parseAddress("wallet", args.wallet);
      const ctx = await walletSystem(hre);
      const amounts = await parseAmounts(ctx, "amounts", args.amounts);
      return fundWallet(ctx, await signerOption(hre, "signer", args.signer), wallet, amounts);
    },
    (r) =>
      `${r.from} sent ${r.sent.map((s) => shown(s.amount, s)).join(" and ")} to wallet ${r.wallet}; gas ${formatGas(r.gasUsed)}`,
  );

defineTask("wallet:status", "Shows a device wallet: owners, threshold, nonce, device key, limits, balances")
  .addParam("wallet", "The device wallet's address")
  .addOptionalParam("asset", "Also show this ERC-20 (address)")
  .run(
    async (args: { wallet: string; asset?: string }, hre) => {
      const { parseAddress } = await import("../src/cli/parse");
      const { resolveAsset, walletStatus } = await import("../src/wallets");
      const wallet = parseAddress("wallet", args.wallet);
      const ctx = await walletSystem(hre);
      const extra = args.asset === undefined ? [] : [await resolveAsset(ctx, args.asset)];
      return walletStatus(ctx, wallet, extra);
    },
    (s) =>
      [
        `Device wallet ${s.wallet}`,
        `  owners ${s.owners.join(", ")} (threshold ${s.threshold}), next nonce ${s.nonce}`,
        `  device ${s.deviceId}: ${s.deviceStatus}${s.deviceOwnedByWallet ? ", owned by the wallet" : ", NOT owned by the wallet"}`,
        `  device key ${s.deviceKey}${s.frozen ? " (FROZEN)" : ""}, period ${s.period} s, ${s.linked ? "linked" : "not linked yet"}`,
        ...(s.deviceStatus !== "active" || s.registryKey === s.deviceKey
          ? []
          : [
              `  the registry holds ${s.registryKey} as the device's key: the device cannot spend until the owners set it (wallet:propose --rotate-key)`,
            ]),
        ...s.balances.map((b) => `  balance ${shown(b.balance, b)}`),
        ...s.allowances.map((a) => `  limit ${shown(a.limit, a)} per period: ${shown(a.available, a)} available now`),
      ].join("\n"),
  );
