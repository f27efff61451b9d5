import { formatUnits } from "ethers";

import { formatGas } from "../src/cli/output";
import { describePreview } from "../src/cli/preview";
import { PRODUCTION_SCRYPT_N } from "../src/devices/keystore";
import { defineTask } from "./lib";

defineTask("device:generate", "Generates simulated devices: ids, keys (in encrypted keystores) and a fleet file")
  .addParam("count", "How many devices")
  .addParam("out", "Folder for devices.csv, devices.json and keystore/ (e.g. data/fleet)")
  .addOptionalParam("type", "Device type for all of them (id or name); default: a mix")
  .addOptionalParam(
    "manufacturer",
    "Manufacturer id whose namespace the device ids are in; default: the --signer account's manufacturer id",
  )
  .addOptionalParam(
    "signer",
    "The manufacturer's signer, when --manufacturer is not given (an account index, vars:NAME, or a keystore file)",
    "0",
  )
  .addFlag("force", "Replace a fleet already in --out (its keystores are moved to keystore.old-<time>)")
  .addFlag("devScrypt", "SIMULATION ONLY: encrypt the keystores with scrypt N=1024 (16 times faster, far weaker)")
  .run(
    async (
      args: {
        count: string;
        out: string;
        type?: string;
        manufacturer?: string;
        signer: string;
        force: boolean;
        devScrypt: boolean;
        json: boolean;
      },
      hre,
    ) => {
      const { parseDeviceType } = await import("../src/cli/devices");
      const { parseCount } = await import("../src/cli/parse");
      const { ensureFleetFolder, generateFleet } = await import("../src/devices/generate");
      const { newKeystorePassword, scryptN } = await import("../src/devices/keystore");
      const { activeManufacturerId } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const count = parseCount("count", args.count, 1);
      const type = args.type === undefined ? undefined : parseDeviceType("type", args.type);
      const n = scryptN(args.devScrypt);
      ensureFleetFolder(args.out, args.force);
      const manufacturerId =
        args.manufacturer !== undefined
          ? parseCount("manufacturer", args.manufacturer, 1)
          : await activeManufacturerId(
              await loadSystem(hre, ["DeviceRegistry"]),
              await (await signerOption(hre, "signer", args.signer)).getAddress(),
            );
      const fleet = await generateFleet(manufacturerId, count, args.out, await newKeystorePassword(), {
        deviceType: type,
        scryptN: n,
        force: args.force,
        showProgress: !args.json,
      });
      return {
        count: fleet.count,
        csv: fleet.csv,
        json: fleet.json,
        keystoreDir: fleet.keystoreDir,
        scryptN: fleet.scryptN,
        ...(fleet.replacedKeystores === undefined ? {} : { replacedKeystores: fleet.replacedKeystores }),
        devices: fleet.devices,
      };
    },
    (r) =>
      [
        `Generated ${r.count} device(s):`,
        `  fleet file: ${r.csv} (and ${r.json}) — public data only`,
        `  keys: ${r.keystoreDir}/<deviceId>.json, encrypted with scrypt N=${r.scryptN}${r.scryptN < PRODUCTION_SCRYPT_N ? ` — SIMULATION ONLY, too weak for real devices (THINGLEDGER_KEYSTORE_SCRYPT_N=${PRODUCTION_SCRYPT_N} for those)` : ""}`,
        ...(r.replacedKeystores === undefined ? [] : [`  the replaced fleet's keystores: ${r.replacedKeystores}`]),
        `Register them with: npx hardhat device:register --file ${r.csv} [--merkle]`,
      ].join("\n"),
  );

defineTask("device:register", "Registers a fleet file (resumable; never charges twice)")
  .addParam("file", "Fleet file: CSV (uid,publicKey,type[,metadataHash]) or JSON")
  .addFlag("merkle", "Commit one Merkle whitelist root instead of registering each device")
  .addOptionalParam("batchSize", "Devices per transaction (batch mode)", "100")
  .addOptionalParam(
    "whitelistOut",
    "Where to write the whitelist (merkle mode; its .tree and .csv or .devices beside it); default: whitelist.json beside --file",
  )
  .addOptionalParam(
    "proofs",
    "With --merkle: json (every proof as hex in the JSON and CSV) or tree (a manifest, the tree file and a binary device file); default: json up to 10,000 devices",
  )
  .addFlag("force", "Overwrite whitelist files that exist")
  .addOptionalParam("signer", "The manufacturer's signer (an account index, vars:NAME, or a keystore file)", "0")
  .addOptionalParam("maxFee", "Most THING to pay per device; default: the current registration fee")
  .addOptionalParam(
    "maxActivationFee",
    "With --merkle: the highest activation fee (THING) to fix for the root's devices; default: the current one",
  )
  .addFlag("dryRun", "Print the fees and estimated gas, send nothing and write no file")
  .run(
    async (
      args: {
        file: string;
        merkle: boolean;
        dryRun: boolean;
        batchSize: string;
        whitelistOut?: string;
        proofs?: string;
        force: boolean;
        signer: string;
        maxFee?: string;
        maxActivationFee?: string;
        json: boolean;
      },
      hre,
    ) => {
      const { parseRegisterOptions } = await import("../src/cli/devices");
      const { readFleetFile } = await import("../src/devices/fleet");
      const { activeManufacturerId, previewFleet, registerFleet, startRun } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const path = await import("node:path");
      const whitelistOut = args.whitelistOut ?? path.join(path.dirname(args.file), "whitelist.json");
      const options = parseRegisterOptions({ ...args, whitelistOut });
      const manufacturer = await signerOption(hre, "signer", args.signer);
      const ctx = await loadSystem(hre, ["ThingToken", "DeviceRegistry"]);
      const devices = readFleetFile(args.file, await activeManufacturerId(ctx, await manufacturer.getAddress()));
      if (!args.dryRun) {
        const { interruptSignal } = await import("../src/cli/interrupt");
        const interrupt = interruptSignal();
        try {
          return await registerFleet(ctx, manufacturer, devices, { ...options, signal: interrupt.signal });
        } finally {
          interrupt.dispose();
        }
      }
      const { run, id } = await startRun(ctx, manufacturer, devices, options);
      return previewFleet(run, id, options);
    },
    (r) =>
      "dryRun" in r
        ? `${r.registering} of ${r.devices} device(s) to register (${r.mode}). ${describePreview(r)}`
        : [
            r.mode === "merkle"
              ? r.registered === 0
                ? `Whitelist root ${r.root} was already committed: nothing to do, nothing charged.`
                : `Committed whitelist root ${r.root} for ${r.devices} device(s); each registers when it first presents its proof.`
              : `Registered ${r.registered} device(s), skipped ${r.skipped} already registered.`,
            `  fees ${formatUnits(r.feesPaid, 18)} THING, ${r.transactions} transaction(s), gas ${formatGas(r.gasUsed)}`,
            ...(r.whitelistFiles
              ? [
                  r.proofs === "tree"
                    ? `  whitelist: ${r.whitelistFiles.json}; every proof by index from the tree file ${r.whitelistFiles.tree}; devices ${r.whitelistFiles.devices}`
                    : `  whitelist with proofs: ${r.whitelistFiles.json} and ${r.whitelistFiles.csv}; tree file ${r.whitelistFiles.tree}`,
                ]
              : []),
          ].join("\n"),
  );

defineTask("device:activate", "The device signs its activation; the owner submits it and pays the fee")
  .addParam("device", "Device id (0x…64 hex) or raw unique id")
  .addParam("keystore", "Directory of device keystores")
  .addOptionalParam("whitelist", "Whitelist file, for a device registered by Merkle root")
  .addOptionalParam("signer", "The owner's signer (an account index, vars:NAME, or a keystore file)", "0")
  .addOptionalParam("maxFee", "Most THING the owner pays; default: the device's activation fee")
  .addFlag("dryRun", "Print the fee and estimated gas, send nothing")
  .run(
    async (
      args: { device: string; keystore: string; whitelist?: string; signer: string; maxFee?: string; dryRun: boolean },
      hre,
    ) => {
      const { parseAmount } = await import("../src/cli/parse");
      const { unlockDeviceKey } = await import("../src/devices/keystore");
      const { activate, previewActivation, resolveDevice } = await import("../src/registry");
      const { loadSystem } = await import("./support/deployments");
      const { signerOption } = await import("./support/signers");
      const maxFee = args.maxFee === undefined ? undefined : parseAmount("max-fee", args.maxFee);
      const ctx = await loadSystem(hre, ["ThingToken", "DeviceRegistry"]);
      const deviceId = await resolveDevice(ctx, args.device, args.keystore);
      const wallet = await unlockDeviceKey(args.keystore, deviceId);
      const owner = await signerOption(hre, "signer", args.signer);
      if (args.dryRun) return previewActivation(ctx, owner, wallet, deviceId, args.whitelist, maxFee);
      return activate(ctx, owner, wallet, deviceId, args.whitelist, maxFee);
    },
    (r) =>
      "dryRun" in r
        ? `Activating ${r.deviceId} for ${r.owner}. ${describePreview(r)}`
        : `Device ${r.deviceId} activated for ${r.owner}${r.fromWhitelist ? " (registered from its whitelist proof)" : ""}; fee ${formatUnits(r.feePaid, 18)} THING, gas ${formatGas(r.gasUsed)}`,
  );

defineTask("device:status", "Shows a device's record: status, manufacturer, owner, key, type, score")
  .addParam("device", "Device id (0x…64 hex) or raw unique id")
  .run(
    async (args: { device: string }, hre) => {
      // From their own modules: the registry's index loads every registry operation (bench:startup's task).
      const { deviceStatus } = await import("../src/registry/status");
      const { resolveDevice } = await import("../src/registry/resolve");
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
  .addOptionalParam("signer", "The owner's signer (an account index, vars:NAME, or a keystore file)", "0")
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
  .addOptionalParam(
    "signer",
    "The manufacturer's or admin's signer (an account index, vars:NAME, or a keystore file)",
    "0",
  )
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
  .addOptionalParam("signer", "The owner's signer (an account index, vars:NAME, or a keystore file)", "0")
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
