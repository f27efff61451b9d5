import { formatGas } from "../src/cli/output";
import { withHttpFlags } from "../src/cli/http";
import type { HttpFlags } from "../src/cli/http";
import { defineTask } from "./lib";

function unitOf(asset: string): string {
  return asset === "token" ? "THING" : "ETH";
}

defineTask(
  "channel:open",
  "Opens a payment channel: the owner deposits for an Authorization Server on behalf of a client group",
)
  .addParam("as", "The Authorization Server's address (the payee)")
  .addParam("clients", "Client keys: a file (JSON array, or one address per line) or comma-separated addresses")
  .addParam("deposit", "Deposit in ETH or THING, e.g. 0.5")
  .addParam("expiry", "Expiry: a duration from now (30m, 12h, 7d) or a unix time")
  .addOptionalParam("asset", "eth, or token (ThingToken, opened in one approveAndCall)", "eth")
  .addOptionalParam("salt", "Distinguishes channels with equal parameters; default random")
  .addOptionalParam("out", "Write the channel file (key, and each client's Merkle proof) here, e.g. data/channel.json")
  .addFlag("force", "Overwrite --out if it exists")
  .addOptionalParam("signer", "The owner's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (
      args: {
        as: string;
        clients: string;
        deposit: string;
        expiry: string;
        asset: string;
        salt?: string;
        out?: string;
        force: boolean;
        signer: string;
      },
      hre,
    ) => {
      const crypto = await import("node:crypto");
      const { parseAddress, parseAmount, parseCount, parseDeadline } = await import("../src/cli/parse");
      const { parseAsset, readClients } = await import("../src/cli/channels");
      const { chainTime } = await import("../src/chain/time");
      const { openChannel } = await import("../src/channels");
      const { signerOption } = await import("./support/signers");
      const { loadSystem } = await import("./support/deployments");
      const { ensureWritable } = await import("../src/cli/files");
      if (args.out !== undefined) ensureWritable(args.out, { force: args.force, flag: "out" });
      const asset = parseAsset(args.asset);
      const payee = parseAddress("as", args.as);
      const deposit = parseAmount("deposit", args.deposit);
      const salt =
        args.salt === undefined
          ? BigInt(`0x${crypto.randomBytes(8).toString("hex")}`)
          : BigInt(parseCount("salt", args.salt));
      const clients = readClients(args.clients);
      const ctx = await loadSystem(hre, ["PaymentChannels", "ThingToken"]);
      const expiry = parseDeadline("expiry", args.expiry, await chainTime(ctx.provider));
      return openChannel(ctx, {
        owner: await signerOption(hre, "signer", args.signer),
        payee,
        clients,
        deposit,
        expiry,
        asset,
        salt,
        out: args.out,
        force: args.force,
      });
    },
    (r, hre) =>
      [
        `Opened channel ${r.channelId}`,
        `  owner ${r.owner} → AS ${r.payee}, ${r.clients} client(s), root ${r.clientRoot}`,
        `  deposit ${hre.ethers.formatEther(r.deposit)} ${unitOf(r.asset)}, expires ${new Date(Number(r.expiry) * 1000).toISOString()}`,
        `  salt ${r.salt}, opened in block ${r.openBlock}, gas ${formatGas(r.gasUsed)}`,
        r.file === undefined ? "" : `  channel file (give it to the clients): ${r.file}`,
      ]
        .filter((l) => l !== "")
        .join("\n"),
  );

defineTask("channel:topup", "The owner adds to a channel's deposit and/or extends its expiry")
  .addParam("channel", "Channel id (0x…64 hex)")
  .addOptionalParam("amount", "ETH or THING to add, e.g. 0.1")
  .addOptionalParam("extend", "New expiry: a duration from now (7d) or a unix time")
  .addOptionalParam("signer", "The owner's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { channel: string; amount?: string; extend?: string; signer: string }, hre) => {
      const { parseAmount, parseDeadline } = await import("../src/cli/parse");
      const { parseChannelId } = await import("../src/cli/channels");
      const { chainTime } = await import("../src/chain/time");
      const { UserError } = await import("../src/errors");
      const { topUpChannel } = await import("../src/channels");
      const { signerOption } = await import("./support/signers");
      const { loadSystem } = await import("./support/deployments");
      if (args.amount === undefined && args.extend === undefined)
        throw new UserError("nothing to do: give --amount, --extend, or both");
      const ctx = await loadSystem(hre, ["PaymentChannels", "ThingToken"]);
      return topUpChannel(ctx, {
        owner: await signerOption(hre, "signer", args.signer),
        channelId: parseChannelId(args.channel),
        amount: args.amount === undefined ? 0n : parseAmount("amount", args.amount),
        expiry:
          args.extend === undefined ? undefined : parseDeadline("extend", args.extend, await chainTime(ctx.provider)),
      });
    },
    (r, hre) =>
      `Topped up channel ${r.channelId}: +${hre.ethers.formatEther(r.added)}, deposit now ${hre.ethers.formatEther(r.deposit)}, expires ${new Date(Number(r.expiry) * 1000).toISOString()} (gas ${formatGas(r.gasUsed)})`,
  );

defineTask("channel:status", "Shows a channel: parties, asset, group root, deposit, expiry, and how it ended")
  .addParam("channel", "Channel id (0x…64 hex)")
  .run(
    async (args: { channel: string }, hre) => {
      const { parseChannelId } = await import("../src/cli/channels");
      const { channelInfo } = await import("../src/channels");
      const { loadSystem } = await import("./support/deployments");
      const channelId = parseChannelId(args.channel);
      return channelInfo(await loadSystem(hre, ["PaymentChannels"]), channelId);
    },
    (r, hre) =>
      [
        `Channel ${r.channelId}: ${r.status}`,
        `  owner ${r.owner} → AS ${r.payee}, asset ${r.asset}, group root ${r.clientRoot}`,
        `  deposit ${hre.ethers.formatEther(r.deposit)} ${unitOf(r.asset)}, expiry ${new Date(Number(r.expiry) * 1000).toISOString()}, opened in block ${r.openBlock} (salt ${r.salt})`,
        r.paid === undefined ? "" : `  AS paid ${hre.ethers.formatEther(r.paid)} ${unitOf(r.asset)}`,
        r.refunded === undefined ? "" : `  owner refunded ${hre.ethers.formatEther(r.refunded)} ${unitOf(r.asset)}`,
      ]
        .filter((l) => l !== "")
        .join("\n"),
  );

defineTask("channel:close", "The AS closes channels with their best receipts: one close, or one batch close")
  .addOptionalParam("db", "The AS database: close with its best receipts (run while that AS is stopped)")
  .addOptionalParam("receipt", "A receipt file: { channelId, amount, signature, proof }")
  .addOptionalParam("channel", "Only these channel ids (comma-separated); default: every open one in --db")
  .addOptionalParam("signer", "The AS's signer, the payee (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { db?: string; receipt?: string; channel?: string; signer: string }, hre) => {
      const { UserError } = await import("../src/errors");
      const { parseChannelIds } = await import("../src/cli/channels");
      const { closeChannels, closeFromDb, readReceiptFile } = await import("../src/channels");
      const { signerOption } = await import("./support/signers");
      const { loadSystem } = await import("./support/deployments");
      if ((args.db === undefined) === (args.receipt === undefined))
        throw new UserError("give exactly one of --db (the AS database) or --receipt (a receipt file)");
      const payee = await signerOption(hre, "signer", args.signer);
      const only = args.channel === undefined ? undefined : parseChannelIds(args.channel);
      const ctx = await loadSystem(hre, ["PaymentChannels"]);
      if (args.db !== undefined) return closeFromDb(ctx, { payee, db: args.db, only });
      const receipt = readReceiptFile(args.receipt!);
      if (only !== undefined && (only.length !== 1 || only[0] !== receipt.channelId))
        throw new UserError(`--channel: the receipt file is for channel ${receipt.channelId}`);
      return closeChannels(ctx, { payee, receipts: [receipt] });
    },
    (r, hre) =>
      [
        `Closed ${r.closed.length} channel(s) in one transaction (gas ${formatGas(r.gasUsed)})`,
        ...r.closed.map(
          (c) =>
            `  ${c.channelId}: AS paid ${hre.ethers.formatEther(c.paid)}, owner refunded ${hre.ethers.formatEther(c.refunded)} ${unitOf(c.asset)}`,
        ),
        ...r.skipped.map((s) => `  ${s.channelId}: skipped (${s.reason})`),
      ].join("\n"),
  );

defineTask("channel:reclaim", "After expiry without a close, the owner takes the whole deposit back")
  .addParam("channel", "Channel id (0x…64 hex)")
  .addOptionalParam("signer", "The owner's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { channel: string; signer: string }, hre) => {
      const { parseChannelId } = await import("../src/cli/channels");
      const { reclaimChannel } = await import("../src/channels");
      const { signerOption } = await import("./support/signers");
      const { loadSystem } = await import("./support/deployments");
      return reclaimChannel(await loadSystem(hre, ["PaymentChannels"]), {
        owner: await signerOption(hre, "signer", args.signer),
        channelId: parseChannelId(args.channel),
      });
    },
    (r, hre) =>
      `Reclaimed channel ${r.channelId}: ${hre.ethers.formatEther(r.refunded)} back to the owner (gas ${formatGas(r.gasUsed)})`,
  );

defineTask("as:serve", "Runs the Authorization Server: trades receipts for HOTP codes, closes channels before expiry")
  .with(withHttpFlags)
  .addOptionalParam("port", "HTTP port (0 picks a free one)", "8088")
  .addOptionalParam("host", "Interface to listen on", "127.0.0.1")
  .addOptionalParam("db", "SQLite database of receipts, counters and device secrets", "data/as/as.sqlite")
  .addOptionalParam("devices", "Devices to provision: JSON [{ deviceId, secret (hex), price }]; kept in --db")
  .addOptionalParam("closeMargin", "Close channels this many seconds before their expiry", "3600")
  .addOptionalParam("poll", "Seconds between looks for due channels", "30")
  .addOptionalParam("minConfirmations", "Blocks on top of a channel's open before serving it", "0")
  .addOptionalParam("hotpWindow", "The devices' HOTP window W: at most W unused codes outstanding per device", "32")
  .addOptionalParam(
    "codeTtl",
    "Seconds a code stays valid; expired unused codes are voided when the window is full",
    "600",
  )
  .addFlag("resync", "After restoring --db from a backup: sell nothing for a device until the device acknowledges")
  .addOptionalParam("follow", "Seconds between reads of the channels contract's events", "5")
  .addOptionalParam("stateMaxAge", "Re-read a channel on chain before a sale when its state is older (seconds)", "5")
  .addOptionalParam("maxCloseBatch", "Channels per closeBatch transaction", "50")
  .addOptionalParam("signer", "The AS's signer, the payee (an account index, vars:NAME, or a keystore file)", "0")
  .addFlag("init", "Create --db if it does not exist (a new AS); without it a missing database is refused")
  .addOptionalParam(
    "unknownChannelTtl",
    "Seconds a channel found not open on chain is refused without a chain read",
    "15",
  )
  .addOptionalParam(
    "headCache",
    "Milliseconds the head block that refused a request naming a later block refuses more without a chain read (0: read every time)",
    "1000",
  )
  .addOptionalParam(
    "recovery",
    "Where receipts' signatures are recovered: process (a second process, on another core), loop (the event loop), or auto (process on 2+ cores)",
    "auto",
  )
  .serve(
    async (
      args: HttpFlags & {
        port: string;
        host: string;
        db: string;
        devices?: string;
        closeMargin: string;
        poll: string;
        minConfirmations: string;
        hotpWindow: string;
        codeTtl: string;
        resync: boolean;
        follow: string;
        stateMaxAge: string;
        maxCloseBatch: string;
        signer: string;
        init: boolean;
        unknownChannelTtl: string;
        headCache: string;
        recovery: string;
      },
      hre,
    ) => {
      const { parseCount } = await import("../src/cli/parse");
      const { readDevicesFile, recoveryProcessFor, startAs } = await import("../src/channels");
      const { parseHttpFlags } = await import("../src/cli/http");
      const { serviceLogger } = await import("../src/http/log");
      const { signerOption } = await import("./support/signers");
      const { loadSystem } = await import("./support/deployments");
      const port = parseCount("port", args.port);
      const http = parseHttpFlags(args);
      const logger = serviceLogger("as", http.logLevel);
      const devices = args.devices === undefined ? undefined : readDevicesFile(args.devices);
      const as = await startAs(await loadSystem(hre, ["PaymentChannels"]), {
        signer: await signerOption(hre, "signer", args.signer),
        port,
        host: args.host,
        db: args.db,
        devices,
        closeMargin: parseCount("close-margin", args.closeMargin),
        pollSeconds: parseCount("poll", args.poll, 1),
        minConfirmations: parseCount("min-confirmations", args.minConfirmations),
        hotpWindow: parseCount("hotp-window", args.hotpWindow, 1),
        codeTtl: parseCount("code-ttl", args.codeTtl, 1),
        resync: args.resync,
        init: args.init,
        followSeconds: parseCount("follow", args.follow, 1),
        stateMaxAge: parseCount("state-max-age", args.stateMaxAge),
        rpcTimeoutMs: http.limits.rpcTimeoutMs,
        maxCloseBatch: parseCount("max-close-batch", args.maxCloseBatch, 1),
        log: (line) => logger.info(line),
        http: { ...http, logger, processMetrics: true },
        unknownChannelTtl: parseCount("unknown-channel-ttl", args.unknownChannelTtl),
        headCacheMs: parseCount("head-cache", args.headCache),
        recoveryProcess: recoveryProcessFor(args.recovery),
      });
      return {
        stop: () => as.stop(),
        summary: {
          network: hre.network.name,
          url: as.url,
          payee: as.payee,
          db: as.db,
          devices: as.devices,
          receipts: as.receipts,
        },
      };
    },
    (r) =>
      [
        `Authorization Server for ${r.payee} on network "${r.network}" listening at ${r.url}`,
        `  database ${r.db}: ${r.devices} device(s), ${r.receipts} receipt(s)`,
        "  POST /access, POST /channels/:id/redeliver, GET /channels/:id/receipt, GET /devices, POST /devices/:id/ack, GET /devices/:id/challenge, GET /health, GET /metrics; Ctrl-C stops it",
      ].join("\n"),
  );

defineTask(
  "sim:access",
  "Simulates paid access: an owner's group channel, an Authorization Server, clients and a device",
)
  .addOptionalParam("clients", "Client keys in the channel's group", "4")
  .addOptionalParam("slots", "Access slots each client buys", "3")
  .addOptionalParam("owner", "The owner's signer (an account index, vars:NAME, or a keystore file)", "0")
  .addOptionalParam("as", "The Authorization Server's signer (an account index, vars:NAME, or a keystore file)", "1")
  .run(
    async (args: { clients: string; slots: string; owner: string; as: string; json: boolean }, hre) => {
      const { parseCount } = await import("../src/cli/parse");
      const { Progress } = await import("../src/cli/progress");
      const { runAccessSimulation } = await import("../src/channels");
      const { signerOption } = await import("./support/signers");
      const { loadSystem } = await import("./support/deployments");
      const clients = parseCount("clients", args.clients, 1);
      const slots = parseCount("slots", args.slots, 1);
      const progress = new Progress("buying access slots", clients * slots, !args.json);
      return runAccessSimulation(await loadSystem(hre, ["PaymentChannels"]), {
        clients,
        slots,
        owner: await signerOption(hre, "owner", args.owner),
        as: await signerOption(hre, "as", args.as),
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
