import { formatUnits } from "ethers";

import { formatGas } from "../src/cli/output";
import { defineTask } from "./lib";

defineTask("device:generate", "Generates simulated devices: ids, keys (in encrypted keystores) and a fleet file")
  .addParam("count", "How many devices")
  .addParam("out", "Directory for devices.csv, devices.json and keystore/")
  .addOptionalParam("type", "Device type for all of them (id or name); default: a mix")
  .addOptionalParam(
    "manufacturer",
    "Manufacturer id whose namespace the device ids are in; default: the --signer account's manufacturer id",
  )
  .addOptionalParam("signer", "Index of the manufacturer's local account (when --manufacturer is not given)", "0")
  .run(
    async (
      args: { count: string; out: string; type?: string; manufacturer?: string; signer: string; json: boolean },
      hre,
    ) => {
      const { parseDeviceType } = await import("../src/cli/devices");
      const { parseCount } = await import("../src/cli/parse");
      const { generateFleet } = await import("../src/devices/generate");
      const { keystorePassword } = await import("../src/devices/keystore");
      const { activeManufacturerId } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const count = parseCount("count", args.count, 1);
      const type = args.type === undefined ? undefined : parseDeviceType("type", args.type);
      const manufacturerId =
        args.manufacturer !== undefined
          ? parseCount("manufacturer", args.manufacturer, 1)
          : await activeManufacturerId(
              await loadSystem(hre, ["DeviceRegistry"]),
              await (await signerOption(hre, "signer", args.signer)).getAddress(),
            );
      const fleet = generateFleet(manufacturerId, count, args.out, await keystorePassword(), type, !args.json);
      return {
        count: fleet.count,
        csv: fleet.csv,
        json: fleet.json,
        keystoreDir: fleet.keystoreDir,
        devices: fleet.devices,
      };
    },
    (r) =>
      [
        `Generated ${r.count} device(s):`,
        `  fleet file: ${r.csv} (and ${r.json}) — public data only`,
        `  keys: ${r.keystoreDir}/<deviceId>.json, encrypted`,
        `Register them with: npx hardhat device:register --file ${r.csv} [--merkle]`,
      ].join("\n"),
  );

defineTask("device:register", "Registers a fleet file (resumable; never charges twice)")
  .addParam("file", "Fleet file: CSV (uid,publicKey,type[,metadataHash]) or JSON")
  .addFlag("merkle", "Commit one Merkle whitelist root instead of registering each device")
  .addOptionalParam("batchSize", "Devices per transaction (batch mode)", "100")
  .addOptionalParam("whitelistOut", "Where to write the whitelist with proofs (merkle mode)", "whitelist.json")
  .addOptionalParam("signer", "Index of the manufacturer's local account", "0")
  .addOptionalParam("maxFee", "Most THING to pay per device; default: the current registration fee")
  .addOptionalParam(
    "maxActivationFee",
    "With --merkle: the highest activation fee (THING) to fix for the root's devices; default: the current one",
  )
  .run(
    async (
      args: {
        file: string;
        merkle: boolean;
        batchSize: string;
        whitelistOut: string;
        signer: string;
        maxFee?: string;
        maxActivationFee?: string;
        json: boolean;
      },
      hre,
    ) => {
      const { parseRegisterOptions } = await import("../src/cli/devices");
      const { readFleetFile } = await import("../src/devices/fleet");
      const { activeManufacturerId, registerFleet } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const options = parseRegisterOptions(args);
      const manufacturer = await signerOption(hre, "signer", args.signer);
      const ctx = await loadSystem(hre, ["ThingToken", "DeviceRegistry"]);
      const devices = readFleetFile(args.file, await activeManufacturerId(ctx, await manufacturer.getAddress()));
      return registerFleet(ctx, manufacturer, devices, options);
    },
    (r) =>
      [
        r.mode === "merkle"
          ? r.registered === 0
            ? `Whitelist root ${r.root} was already committed: nothing to do, nothing charged.`
            : `Committed whitelist root ${r.root} for ${r.devices} device(s); each registers when it first presents its proof.`
          : `Registered ${r.registered} device(s), skipped ${r.skipped} already registered.`,
        `  fees ${formatUnits(r.feesPaid, 18)} THING, ${r.transactions} transaction(s), gas ${formatGas(r.gasUsed)}`,
        ...(r.whitelistFiles
          ? [
              `  whitelist with proofs: ${r.whitelistFiles.json} and ${r.whitelistFiles.csv}; tree file ${r.whitelistFiles.tree}`,
            ]
          : []),
      ].join("\n"),
  );

defineTask("device:activate", "The device signs its activation; the owner submits it and pays the fee")
  .addParam("device", "Device id (0x…64 hex) or raw unique id")
  .addParam("keystore", "Directory of device keystores")
  .addOptionalParam("whitelist", "Whitelist file, for a device registered by Merkle root")
  .addOptionalParam("signer", "Index of the owner's local account", "0")
  .addOptionalParam("maxFee", "Most THING the owner pays; default: the device's activation fee")
  .run(
    async (args: { device: string; keystore: string; whitelist?: string; signer: string; maxFee?: string }, hre) => {
      const { parseAmount } = await import("../src/cli/parse");
      const { unlockDeviceKey } = await import("../src/devices/keystore");
      const { activate, resolveDevice } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const maxFee = args.maxFee === undefined ? undefined : parseAmount("max-fee", args.maxFee);
      const ctx = await loadSystem(hre, ["ThingToken", "DeviceRegistry"]);
      const deviceId = await resolveDevice(ctx, args.device, args.keystore);
      const wallet = await unlockDeviceKey(args.keystore, deviceId);
      return activate(ctx, await signerOption(hre, "signer", args.signer), wallet, deviceId, args.whitelist, maxFee);
    },
    (r) =>
      `Device ${r.deviceId} activated for ${r.owner}${r.fromWhitelist ? " (registered from its whitelist proof)" : ""}; fee ${formatUnits(r.feePaid, 18)} THING, gas ${formatGas(r.gasUsed)}`,
  );

defineTask("device:status", "Shows a device's record: status, manufacturer, owner, key, type, score")
  .addParam("device", "Device id (0x…64 hex) or raw unique id")
  .run(
    async (args: { device: string }, hre) => {
      const { deviceStatus, resolveDevice } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { UserError } = await import("../src/errors");
      const ctx = await loadSystem(hre, ["DeviceRegistry"]);
      const device = await deviceStatus(ctx, await resolveDevice(ctx, args.device));
      // Asked about one device, an unknown one is an error (exit code 1), not an empty record.
      if (device.status === "unknown") {
        throw new UserError(`device ${device.deviceId} is not registered on network "${ctx.network}"`);
      }
      return device;
    },
    (d) =>
      [
        `Device ${d.deviceId}: ${d.status}`,
        `  manufacturer #${d.manufacturerId} ${d.manufacturer}`,
        `  owner ${d.owner}`,
        `  key ${d.deviceKey}, type ${d.deviceType} (${d.deviceTypeName})`,
        `  reputation ${d.score}/1000, trend ${d.trend}`,
      ].join("\n"),
  );

defineTask("device:validate", "Validates a device; with --challenge, checks a fresh identity claim signed by its key")
  .addParam("device", "Device id (0x…64 hex) or raw unique id")
  .addOptionalParam("challenge", "A 32-byte hex challenge, or 'random'")
  .addOptionalParam("keystore", "Directory of device keystores (needed with --challenge: the device signs)")
  .run(
    async (args: { device: string; challenge?: string; keystore?: string }, hre) => {
      const { parseChallenge } = await import("../src/cli/devices");
      const { unlockDeviceKey } = await import("../src/devices/keystore");
      const { UserError } = await import("../src/errors");
      const { resolveDevice, validate } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const ctx = await loadSystem(hre, ["DeviceRegistry"]);
      const deviceId = await resolveDevice(ctx, args.device, args.keystore);
      if (args.challenge === undefined) return validate(ctx, deviceId);
      const challenge = parseChallenge("challenge", args.challenge);
      if (args.keystore === undefined) throw new UserError("--challenge needs --keystore: the device must sign it");
      const wallet = await unlockDeviceKey(args.keystore, deviceId);
      return validate(ctx, deviceId, { challenge, device: wallet });
    },
    (r) =>
      [
        `Device ${r.deviceId} is ${r.valid ? "VALID" : "NOT VALID"}: status ${r.status}, manufacturer #${r.manufacturerId}, owner ${r.owner}, reputation ${r.score}/1000`,
        ...(r.challenge === undefined
          ? []
          : [
              `  identity claim for challenge ${r.challenge}: ${r.claimValid ? "signed by the device's key" : "REJECTED"}`,
            ]),
      ].join("\n"),
  );

defineTask("device:transfer", "Transfers an active device to a new owner (owner only)")
  .addParam("device", "Device id (0x…64 hex) or raw unique id")
  .addParam("to", "New owner's address")
  .addOptionalParam("signer", "Index of the owner's local account", "0")
  .run(
    async (args: { device: string; to: string; signer: string }, hre) => {
      const { parseAddress } = await import("../src/cli/parse");
      const { resolveDevice, transferDevice } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const to = parseAddress("to", args.to);
      const ctx = await loadSystem(hre, ["DeviceRegistry"]);
      const deviceId = await resolveDevice(ctx, args.device);
      return transferDevice(ctx, await signerOption(hre, "signer", args.signer), deviceId, to);
    },
    (r) => `Device ${r.deviceId} transferred from ${r.from} to ${r.to}; gas ${formatGas(r.gasUsed)}`,
  );

defineTask("device:revoke", "Revokes a device for good (its manufacturer or the network admin)")
  .addParam("device", "Device id (0x…64 hex) or raw unique id")
  .addOptionalParam("reason", "Reason code 0-255 (e.g. 1 compromised, 2 recalled, 3 squatted id)", "1")
  .addOptionalParam("signer", "Index of the manufacturer's or admin's local account", "0")
  .run(
    async (args: { device: string; reason: string; signer: string }, hre) => {
      const { parseReason } = await import("../src/cli/devices");
      const { resolveDevice, revokeDevice } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const reason = parseReason("reason", args.reason);
      const ctx = await loadSystem(hre, ["DeviceRegistry"]);
      const deviceId = await resolveDevice(ctx, args.device);
      return revokeDevice(ctx, await signerOption(hre, "signer", args.signer), deviceId, reason);
    },
    (r) => `Device ${r.deviceId} revoked by ${r.by} (reason ${r.reason}); gas ${formatGas(r.gasUsed)}`,
  );

defineTask(
  "device:rotate-key",
  "Gives a device a new key: the new key consents, the owner submits, the keystore is updated",
)
  .addParam("device", "Device id (0x…64 hex) or raw unique id")
  .addParam("keystore", "Directory of device keystores")
  .addOptionalParam("signer", "Index of the owner's local account", "0")
  .run(
    async (args: { device: string; keystore: string; signer: string }, hre) => {
      const { keystorePassword } = await import("../src/devices/keystore");
      const { resolveDevice, rotateKey } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const ctx = await loadSystem(hre, ["DeviceRegistry"]);
      return rotateKey(
        ctx,
        await signerOption(hre, "signer", args.signer),
        await resolveDevice(ctx, args.device, args.keystore),
        args.keystore,
        await keystorePassword(),
      );
    },
    (r) => `Device ${r.deviceId} key rotated ${r.oldKey} -> ${r.newKey}; keystore updated; gas ${formatGas(r.gasUsed)}`,
  );
