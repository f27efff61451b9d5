import { defineTask } from "./lib";

defineTask(
  "channel:clients",
  "Writes a clients file for channel:open: new client keys in encrypted keystores (--count), or given addresses",
)
  .addOptionalParam("count", "Make this many new client keys, e.g. 2")
  .addOptionalParam("addresses", "Or list these existing client addresses (comma-separated) instead")
  .addOptionalParam(
    "keystores",
    "Folder for the new keys' keystores (password: THINGLEDGER_KEYSTORE_PASSWORD, else asked twice)",
  )
  .addOptionalParam("out", "The clients file to write (data/ is gitignored)", "data/clients.json")
  .addFlag("force", "Overwrite an existing clients file")
  .run(
    async (args: { count?: string; addresses?: string; keystores?: string; out: string; force: boolean }) => {
      const { parseCount } = await import("../src/cli/parse");
      const { readClients } = await import("../src/cli/channels");
      const { ensureWritable } = await import("../src/cli/files");
      const { newKeystorePassword } = await import("../src/devices/keystore");
      const { UserError } = await import("../src/errors");
      const { writeClients } = await import("../src/channels/access");
      if ((args.count === undefined) === (args.addresses === undefined))
        throw new UserError("give exactly one of --count (new keys) or --addresses (existing ones)");
      if (args.count !== undefined && args.keystores === undefined)
        throw new UserError("--keystores: give the folder for the new client keys, e.g. data/clients");
      ensureWritable(args.out, { force: args.force, flag: "out" });
      return writeClients({
        out: args.out,
        force: args.force,
        count: args.count === undefined ? undefined : parseCount("count", args.count, 1),
        addresses: args.addresses === undefined ? undefined : readClients(args.addresses),
        keystores: args.keystores,
        password: args.count === undefined ? undefined : await newKeystorePassword(),
      });
    },
    (r) =>
      [
        `Wrote ${r.clients.length} client(s) to ${r.file} (give it to channel:open --clients)`,
        ...r.clients.map((c) => `  ${c.address}${c.keystore === undefined ? "" : `  key: ${c.keystore}`}`),
      ].join("\n"),
  );

defineTask(
  "device:secret",
  "Makes a device's HOTP secret: adds it to the AS's devices file and writes the lock's state file",
)
  .addParam("device", "The device's id (0x…64 hex) or label, e.g. LOCK-1")
  .addParam("price", "Price of one access slot in ETH or THING, e.g. 0.001")
  .addOptionalParam(
    "devices",
    "The AS's devices file (as:serve --devices), created or updated; data/ is gitignored",
    "data/devices.json",
  )
  .addOptionalParam("lock", "The lock's state file (device:serve-lock --lock), e.g. data/lock-1.json")
  .addFlag("force", "Replace the device's existing secret (its entry and its lock file)")
  .addFlag("showSecret", "Also print the secret (it is otherwise only in the two files)")
  .run(
    async (args: {
      device: string;
      price: string;
      devices: string;
      lock?: string;
      force: boolean;
      showSecret: boolean;
    }) => {
      const { UserError } = await import("../src/errors");
      const { createDeviceSecret } = await import("../src/channels/access");
      if (args.lock === undefined) throw new UserError("--lock: give the lock's state file, e.g. data/lock-1.json");
      return createDeviceSecret({
        device: args.device,
        price: args.price,
        devices: args.devices,
        lock: args.lock,
        force: args.force,
        show: args.showSecret,
      });
    },
    (r) =>
      [
        `Device ${r.label} (${r.deviceId}) at ${r.price} a slot: secret in ${r.devices} (the AS's) and ${r.lock} (the lock's)`,
        r.secret === undefined ? "" : `  secret ${r.secret}`,
      ]
        .filter((l) => l !== "")
        .join("\n"),
  );

defineTask(
  "device:serve-lock",
  "Runs a simulated lock: checks HOTP codes over HTTP (POST /present) with its secret and sliding window",
)
  .addParam("lock", "The lock's state file from device:secret, e.g. data/lock-1.json")
  .addOptionalParam("port", "HTTP port (0 picks a free one)", "8090")
  .addOptionalParam("host", "Interface to listen on", "127.0.0.1")
  .addOptionalParam("window", "The lock's HOTP window W (at least as:serve --hotp-window)", "32")
  .serve(
    async (args: { lock: string; port: string; host: string; window: string }) => {
      const { parseCount } = await import("../src/cli/parse");
      const { startLock } = await import("../src/channels/lock");
      const lock = await startLock({
        file: args.lock,
        port: parseCount("port", args.port),
        host: args.host,
        window: parseCount("window", args.window, 1),
      });
      return { stop: lock.stop, summary: { url: lock.url, deviceId: lock.deviceId, counter: lock.counter } };
    },
    (r) =>
      [
        `Lock ${r.deviceId} listening at ${r.url} (window base ${r.counter})`,
        "  POST /present { otp, advance? } opens (200) or refuses (403); GET /ack; GET /health; Ctrl-C stops it",
      ].join("\n"),
  );

defineTask(
  "access:buy",
  "A client buys a device's next HOTP code from the AS with a receipt on its channel (and can try it on a lock)",
)
  .addParam("channel", "The channel file from channel:open --out, e.g. channel.json")
  .addParam("keystore", "The client's keystore file (password: THINGLEDGER_KEYSTORE_PASSWORD, else asked)")
  .addParam("device", "The device's id (0x…64 hex) or label, e.g. LOCK-1")
  .addOptionalParam("as", "The Authorization Server's URL", "http://127.0.0.1:8088")
  .addOptionalParam("lock", "Also present the code to this lock (device:serve-lock), e.g. http://127.0.0.1:8090")
  .addOptionalParam(
    "maxPrice",
    "The most to pay for the code, in the channel's asset (the AS quotes the price; a higher one is refused before anything is signed); without it, asked on a terminal",
  )
  .run(
    async (
      args: { channel: string; keystore: string; device: string; as: string; lock?: string; maxPrice?: string },
      hre,
    ) => {
      const { keystorePassword } = await import("../src/devices/keystore");
      const { readDomain } = await import("../src/eip712/domain");
      const { UserError } = await import("../src/errors");
      const { buyAccess, loadClientKey, readChannelFile } = await import("../src/channels/access");
      const { confirm } = await import("../src/cli/confirm");
      const { parseAmount } = await import("../src/cli/parse");
      const parseUrl = (flag: string, value: string): string => {
        if (!/^https?:\/\/[^/]/.test(value)) throw new UserError(`--${flag}: "${value}" is not an http(s) URL`);
        return value;
      };
      const asUrl = parseUrl("as", args.as);
      const lockUrl = args.lock === undefined ? undefined : parseUrl("lock", args.lock);
      const wallet = loadClientKey(args.keystore, await keystorePassword());
      const { channel } = readChannelFile(args.channel, wallet.address);
      const chainId = (await hre.ethers.provider.getNetwork()).chainId;
      if (chainId.toString() !== channel.chainId)
        throw new UserError(
          `${args.channel} is a channel of chain ${channel.chainId}; network "${hre.network.name}" is chain ${chainId}`,
        );
      if ((await hre.ethers.provider.getCode(channel.contract)) === "0x") {
        const inProcess =
          hre.network.name === "hardhat" ? " (without --network, tasks run on an empty in-process chain)" : "";
        throw new UserError(
          `the channel contract ${channel.contract} of ${args.channel} is not deployed on network "${hre.network.name}"${inProcess}: pass the network the channel was opened on with --network, e.g. --network localhost`,
        );
      }
      const domain = await readDomain({ runner: hre.ethers.provider, address: channel.contract });
      const maxPrice = args.maxPrice === undefined ? undefined : parseAmount("max-price", args.maxPrice);
      const unit = channel.asset === "token" ? "THING" : "ETH";
      // On a terminal, a price not bounded by --max-price is shown and asked for; elsewhere it is refused.
      const approvePrice =
        process.stdin.isTTY === true
          ? (price: bigint) =>
              confirm(
                `The AS asks ${hre.ethers.formatEther(price)} ${unit} for a code of ${args.device}. Pay it?`,
                `pass --max-price to pay it; nothing was signed`,
              )
          : undefined;
      return buyAccess({
        ...{ wallet, channelFile: args.channel, asUrl, device: args.device, domain, lockUrl },
        ...{ maxPrice, approvePrice },
      });
    },
    (r, hre) =>
      [
        `Code ${r.otp} for device ${r.deviceId} (counter ${r.counter}), valid until ${new Date(r.expiresAt * 1000).toISOString()}`,
        `  paid ${hre.ethers.formatEther(r.price)} ${r.asset === "token" ? "THING" : "ETH"}; the channel's receipts now total ${hre.ethers.formatEther(r.amount)} (client ${r.client})`,
        r.lock === undefined
          ? ""
          : r.lock.error !== undefined
            ? `  lock: not presented (${r.lock.error}); the code is paid for: present it to the lock by hand`
            : r.lock.granted
              ? `  lock ${r.lock.url}: OPEN`
              : `  lock ${r.lock.url}: refused (${r.lock.reason})`,
        r.lock?.relayError === undefined ? "" : `  could not relay the lock's acknowledgement: ${r.lock.relayError}`,
      ]
        .filter((l) => l !== "")
        .join("\n"),
  );
