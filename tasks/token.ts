import { formatGas } from "../src/cli/output";
import { formatThing } from "../src/units";
import { defineTask } from "./lib";

defineTask("token:balance", "Shows the ThingToken balance of an account")
  .addOptionalParam("account", "Address to look up (default: the account at --signer)")
  .addOptionalParam(
    "signer",
    "The account to show when --account is absent (an account index, vars:NAME, or a keystore file)",
    "0",
  )
  .run(
    async (args: { account?: string; signer: string }, hre) => {
      const { parseAddress } = await import("../src/cli/parse");
      const { balanceOf } = await import("../src/token");
      const { signerOption } = await import("./support/signers");
      const { loadSystem } = await import("./support/deployments");
      const account =
        args.account !== undefined
          ? parseAddress("account", args.account)
          : await (await signerOption(hre, "signer", args.signer)).getAddress();
      return balanceOf(await loadSystem(hre, ["ThingToken"]), account);
    },
    (r, hre) => `${r.account} holds ${r.formatted} (token ${r.token}, network ${hre.network.name})`,
  );

defineTask("token:transfer", "Sends ThingToken from a local account")
  .addParam("to", "Recipient address")
  .addParam("amount", "Amount in THING, e.g. 10 or 2.5")
  .addOptionalParam("signer", "The sender's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { to: string; amount: string; signer: string }, hre) => {
      const { parseAddress, parseAmount } = await import("../src/cli/parse");
      const { transfer } = await import("../src/token");
      const { signerOption } = await import("./support/signers");
      const { loadSystem } = await import("./support/deployments");
      const to = parseAddress("to", args.to);
      const amount = parseAmount("amount", args.amount);
      const from = await signerOption(hre, "signer", args.signer);
      return transfer(await loadSystem(hre, ["ThingToken"]), from, to, amount);
    },
    (r, _hre, args) =>
      [
        `Sent ${args.amount} THING from ${r.from} to ${r.to}`,
        `  tx ${r.txHash}, gas ${formatGas(r.gasUsed)}`,
        `  balances now: sender ${formatThing(r.balances.from)}, recipient ${formatThing(r.balances.to)}`,
      ].join("\n"),
  );

defineTask("token:permit", "Signs an EIP-2612 permit offline (no transaction) into a JSON file")
  .addParam("spender", "Address allowed to spend")
  .addParam("amount", "Allowance in THING, e.g. 100")
  .addParam("out", "File to write the signed permit to")
  .addOptionalParam("deadline", "Unix time, or a duration from now such as 30m, 1h, 7d", "1h")
  .addOptionalParam("signer", "The owner's signer (an account index, vars:NAME, or a keystore file)", "0")
  .addFlag("force", "Overwrite --out if it exists")
  .run(
    async (
      args: {
        spender: string;
        amount: string;
        out: string;
        deadline: string;
        signer: string;
        force: boolean;
      },
      hre,
    ) => {
      const { parseAddress, parseAmount, parseDeadline } = await import("../src/cli/parse");
      const { createPermit } = await import("../src/token");
      const { signerOption } = await import("./support/signers");
      const { loadSystem } = await import("./support/deployments");
      const spender = parseAddress("spender", args.spender);
      const amount = parseAmount("amount", args.amount);
      const { nextBlockTime } = await import("../src/chain/time");
      const ctx = await loadSystem(hre, ["ThingToken"]);
      const deadline = parseDeadline("deadline", args.deadline, await nextBlockTime(ctx.provider));
      const { ensureWritable, writeJsonOutput } = await import("../src/cli/files");
      ensureWritable(args.out, { force: args.force, flag: "out" });
      const owner = await signerOption(hre, "signer", args.signer);
      const permit = await createPermit(ctx, owner, spender, amount, deadline);
      writeJsonOutput(args.out, permit, { force: args.force, flag: "out" });
      return { file: args.out, ...permit };
    },
    (r, hre, args) =>
      [
        `Signed a permit: ${r.owner} allows ${r.spender} to spend ${args.amount} THING`,
        `  nonce ${r.nonce}, deadline ${r.deadline}, chain ${r.chainId}, token ${r.token}`,
        `  written to ${r.file}; submit it with: npx hardhat token:permit-submit --file ${r.file} --network ${hre.network.name}`,
      ].join("\n"),
  );

defineTask("token:permit-submit", "Submits a signed permit file (anyone may relay it and pay the gas)")
  .addParam("file", "Permit JSON file written by token:permit")
  .addOptionalParam(
    "signer",
    "The relayer's signer, who pays the gas (an account index, vars:NAME, or a keystore file)",
    "0",
  )
  .run(
    async (args: { file: string; signer: string }, hre) => {
      const { readPermitFile, submitPermit } = await import("../src/token");
      const { signerOption } = await import("./support/signers");
      const { loadSystem } = await import("./support/deployments");
      const permit = readPermitFile(args.file);
      const relayer = await signerOption(hre, "signer", args.signer);
      return submitPermit(await loadSystem(hre, ["ThingToken"]), relayer, permit);
    },
    (r) =>
      [
        `Permit submitted: ${r.spender} may now spend ${formatThing(r.allowance)} of ${r.owner}`,
        `  tx ${r.txHash}, gas ${formatGas(r.gasUsed)}`,
      ].join("\n"),
  );
