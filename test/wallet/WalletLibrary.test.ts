import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ZeroAddress, getAddress, parseEther } from "ethers";
import { ethers } from "hardhat";

import { contextFor } from "../../src/chain/context";
import type { SystemContext } from "../../src/chain/context";
import { parseLimit, parseWalletAction } from "../../src/cli/wallets";
import {
  ETH,
  MAX_LIMIT,
  MAX_OWNERS,
  addSignature,
  checkOwners,
  createWallet,
  deviceSpend,
  execute,
  freezeDevice,
  propose,
  resolveAction,
  resolveAsset,
  walletStatus,
} from "../../src/wallets";
import { ONE, walletFixture } from "../shared/fixtures";
import type { WalletFixture } from "../shared/fixtures";

const RECIPIENT = getAddress("0x00000000000000000000000000000000000b0b0b");

/** A context built the way a script or a browser app builds one: a provider and an address book, no `hre`. */
async function plainContext(f: WalletFixture): Promise<SystemContext> {
  return contextFor(ethers.provider, {
    ThingToken: await f.token.getAddress(),
    DeviceRegistry: await f.registry.getAddress(),
    PaymentChannels: ZeroAddress,
    DeviceWalletFactory: await f.factory.getAddress(),
  });
}

describe("wallets library (src/wallets, src/cli/wallets)", function () {
  it("checks an owner set, naming the problem rather than a flag", function () {
    const [a, b] = [getAddress(`0x${"0b".repeat(20)}`), getAddress(`0x${"0a".repeat(20)}`)];
    expect(checkOwners([a, b], 2)).to.deep.equal([b, a]);
    expect(() => checkOwners([], 1)).to.throw("a wallet needs at least one owner");
    const many = Array.from({ length: MAX_OWNERS + 1 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, "0")}`);
    expect(() => checkOwners(many, 1)).to.throw(`a wallet has at most 20 owners, got 21`);
    expect(() => checkOwners([a, a], 1)).to.throw("an owner is listed twice");
    expect(() => checkOwners([a, ZeroAddress], 1)).to.throw("the zero address cannot be an owner");
    expect(() => checkOwners([a, b], 3)).to.throw("the threshold must be between 1 and 2 (the number of owners)");
    expect(() => checkOwners([a, b], 0)).to.throw("the threshold must be between 1 and 2 (the number of owners)");
  });

  it("drives a wallet from a plain provider-and-addresses context: status, propose, sign, execute, spend, freeze", async function () {
    const f = await loadFixture(walletFixture);
    const ctx = await plainContext(f);
    const wallet = await f.wallet.getAddress();
    const status = await walletStatus(ctx, wallet);
    expect(status).to.include({ deviceStatus: "active", deviceOwnedByWallet: true, threshold: 2, frozen: false });
    expect(status.owners).to.deep.equal(f.sortedOwners);
    expect(status.balances.map((b) => b.balance)).to.deep.equal([10n * ONE, 1_000n * ONE]);

    const call = await resolveAction(ctx, wallet, { kind: "call", to: RECIPIENT, value: parseEther("1"), data: "0x" });
    const proposal = await propose(ctx, { wallet, ...call });
    expect(proposal).to.include({ nonce: "0", chainId: "31337", gasLimit: "0", to: RECIPIENT });
    const first = await addSignature(ctx, proposal, f.owners[0]);
    expect(first).to.include({ signatures: 1, threshold: 2, ready: false });
    expect((await addSignature(ctx, proposal, f.owners[2])).ready).to.equal(true);
    const executed = await execute(ctx, proposal, f.treasury);
    expect(executed).to.include({ success: true, nonce: 0n });
    expect(await ethers.provider.getBalance(RECIPIENT)).to.equal(parseEther("1"));

    const token = await resolveAsset(ctx, "token");
    expect(token).to.deep.equal({ address: await f.token.getAddress(), symbol: "THING", decimals: 18 });
    const spent = await deviceSpend(ctx, { wallet, device: f.device, asset: token, to: RECIPIENT, amount: 5n * ONE });
    expect(spent).to.include({ relayed: false, availableAfter: 95n * ONE });
    expect(await f.token.balanceOf(RECIPIENT)).to.equal(5n * ONE);

    const frozen = await freezeDevice(ctx, wallet, f.owners[1]);
    expect(frozen.by).to.equal(f.owners[1].address);
    expect((await f.wallet.deviceConfig()).frozen).to.equal(true);
    await expect(freezeDevice(ctx, wallet, f.treasury)).to.be.rejectedWith(
      `${f.treasury.address} is not an owner of wallet ${wallet}`,
    );
  });

  it("createWallet refuses a limit above the wallet's maximum before sending anything", async function () {
    const f = await loadFixture(walletFixture);
    const ctx = await plainContext(f);
    const nonce = await ethers.provider.getTransactionCount(f.alice.address);
    const options = { owners: f.sortedOwners, threshold: 2, deviceId: f.deviceId, period: 86_400 };
    await expect(
      createWallet(ctx, f.alice, { ...options, limits: [{ asset: ETH, limit: MAX_LIMIT + 1n }] }),
    ).to.be.rejectedWith("a limit of 4722.366482869645213696 ETH is above the wallet's maximum");
    await expect(createWallet(ctx, f.alice, { ...options, period: 0, limits: [] })).to.be.rejectedWith(
      "the period must be between 1 second and 2^32 - 1 seconds, got 0",
    );
    expect(await ethers.provider.getTransactionCount(f.alice.address)).to.equal(nonce);
  });

  it("resolveAction refuses an ETH transfer and a device key the registry does not hold", async function () {
    const f = await loadFixture(walletFixture);
    const ctx = await plainContext(f);
    const wallet = await f.wallet.getAddress();
    await expect(
      resolveAction(ctx, wallet, { kind: "transfer", asset: ETH, to: RECIPIENT, amount: ONE }),
    ).to.be.rejectedWith("ETH is sent as a call with a value, not as a transfer");
    await expect(resolveAction(ctx, wallet, { kind: "rotateKey", key: RECIPIENT })).to.be.rejectedWith(
      `the registry holds ${f.device.address} as the key of device ${f.deviceId}, not ${RECIPIENT}; rotate the key in the registry first`,
    );
    const unchanged = await resolveAction(ctx, wallet, { kind: "rotateKey", key: f.device.address });
    expect(unchanged).to.include({
      to: wallet,
      value: 0n,
      description: `set the device key to ${f.device.address}, the registry's key`,
    });
  });

  it("the CLI parser turns wallet:propose's flags into one typed action, naming the flag at fault", async function () {
    const f = await loadFixture(walletFixture);
    const ctx = await plainContext(f);
    const none = { value: "0", data: "0x", unfreeze: false };
    expect(await parseWalletAction(ctx, { ...none, to: RECIPIENT, value: "1.5" })).to.deep.equal({
      kind: "call",
      to: RECIPIENT,
      value: parseEther("1.5"),
      data: "0x",
    });
    const token = await parseWalletAction(ctx, { ...none, to: RECIPIENT, asset: "token", amount: "2" });
    expect(token).to.deep.include({ kind: "transfer", to: RECIPIENT, amount: 2n * ONE });
    expect(await parseWalletAction(ctx, { ...none, unfreeze: true })).to.deep.equal({ kind: "unfreeze" });
    expect(await parseWalletAction(ctx, { ...none, rotateKey: RECIPIENT.toLowerCase() })).to.deep.equal({
      kind: "rotateKey",
      key: RECIPIENT,
    });
    await expect(parseWalletAction(ctx, { ...none, unfreeze: true, asset: "token" })).to.be.rejectedWith(
      "give only one of --rotate-key, --unfreeze and --asset",
    );
    await expect(parseWalletAction(ctx, { ...none, asset: "token", amount: "1" })).to.be.rejectedWith(
      "--to is required for a call or a transfer",
    );
    await expect(parseWalletAction(ctx, { ...none, to: RECIPIENT, asset: "token" })).to.be.rejectedWith(
      "--asset needs --amount",
    );
    await expect(parseWalletAction(ctx, { ...none, to: RECIPIENT, asset: "eth", amount: "1" })).to.be.rejectedWith(
      "for ETH use --value, not --asset eth",
    );
    await expect(parseWalletAction(ctx, { ...none, rotateKey: "0x12" })).to.be.rejectedWith(
      '--rotate-key: "0x12" is not an Ethereum address',
    );
    expect(parseLimit(ETH, "0.00")).to.equal(0n);
    expect(parseLimit(ETH, "0.5")).to.equal(parseEther("0.5"));
    expect(() => parseLimit(ETH, "-1")).to.throw('--limit: "-1" is not a decimal amount');
  });
});
