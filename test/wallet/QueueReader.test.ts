import { loadFixture, mine } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { BrowserProvider, ZeroAddress, getAddress } from "ethers";
import type { Eip1193Provider } from "ethers";
import { ethers, network } from "hardhat";

import { contextFor } from "../../src/chain/context";
import { DeviceWallet__factory } from "../../src/chain/factories";
import { sortOwners } from "../../src/eip712/wallet";
import { addSignature, execute, propose, walletViewReader } from "../../src/wallets";
import { walletOwners } from "../../src/wallets/wallet";
import { walletFixture } from "../shared/fixtures";

/*
 * The app server's wallet reader (src/wallets/queue-http.ts) against a provider that refuses, as public RPCs
 * do, any `eth_getLogs` over more than a few blocks: owner events are read in bounded ranges, from the
 * factory's deployment block for the creation and from the wallet's creation block for owner changes.
 */

const LIMIT = 8;

describe("Proposal queue's wallet reader: owner events in bounded block ranges", function () {
  it("reads the owners through an RPC that refuses wide log ranges, never before the creation", async function () {
    const f = await loadFixture(walletFixture);
    const factoryBlock = (await f.factory.deploymentTransaction()!.wait())!.blockNumber;
    const address = await f.wallet.getAddress();
    const [created] = await f.factory.queryFilter(f.factory.filters.WalletCreated(address));
    // The wallet lives on: blocks go by, its owners change once (owner 0 leaves), and more blocks go by.
    await mine(3 * LIMIT);
    const plain = await contextFor(ethers.provider, {
      ThingToken: await f.token.getAddress(),
      DeviceRegistry: await f.registry.getAddress(),
      PaymentChannels: ZeroAddress,
      DeviceWalletFactory: await f.factory.getAddress(),
    });
    const next = sortOwners(f.owners.slice(1).map((o) => o.address));
    const data = DeviceWallet__factory.createInterface().encodeFunctionData("setOwners", [next, 2]);
    const p = await propose(plain, {
      wallet: address,
      to: address,
      value: 0n,
      data,
      gasLimit: 200_000n,
      description: "owner 0 leaves",
    });
    for (const o of [f.owners[0], f.owners[1]]) await addSignature(plain, p, o);
    await execute(plain, p, f.treasury);
    const [changed] = await f.wallet.queryFilter(f.wallet.filters.OwnersChanged(), created!.blockNumber + 1);
    await mine(5 * LIMIT);

    const ranges: [number, number, string][] = [];
    const refusing: Eip1193Provider = {
      request: async (args) => {
        if (args.method === "eth_getLogs") {
          const [filter] = args.params as [{ fromBlock: string; toBlock: string; address: string }];
          const latest = Number(await network.provider.request({ method: "eth_blockNumber" }));
          const from = Number(filter.fromBlock);
          const to = filter.toBlock === "latest" ? latest : Number(filter.toBlock);
          ranges.push([from, to, getAddress(filter.address)]);
          if (to - from + 1 > LIMIT) throw new Error(`query exceeds max block range ${LIMIT}`);
        }
        return network.provider.request(args);
      },
    };
    const provider = new BrowserProvider(refusing, undefined, { cacheTimeout: -1 });
    const ctx = await contextFor(provider, plain.addresses);
    const read = walletViewReader(ctx, { fromBlock: factoryBlock, maxBlockRange: LIMIT });
    const view = await read(address);
    expect(view.owners).to.deep.equal(next);
    expect(changed!.blockNumber).to.be.greaterThan(created!.blockNumber + LIMIT);

    expect(ranges.length).to.be.greaterThan(1);
    for (const [from, to] of ranges) expect(to - from + 1).to.be.at.most(LIMIT);
    const factory = getAddress(await f.factory.getAddress());
    const ofFactory = ranges.filter(([, , a]) => a === factory);
    const ofWallet = ranges.filter(([, , a]) => a === getAddress(address));
    expect(Math.min(...ofFactory.map(([from]) => from))).to.equal(factoryBlock);
    // The creation is read oldest first and stops at the creation; owner changes newest first, and stop at
    // the change (never reading back to the creation).
    expect(Math.max(...ofFactory.map(([, to]) => to))).to.be.lessThan(created!.blockNumber + LIMIT);
    expect(Math.min(...ofWallet.map(([from]) => from))).to.be.greaterThan(created!.blockNumber);
    expect(ofWallet.some(([from, to]) => from <= changed!.blockNumber && changed!.blockNumber <= to)).to.equal(true);
  });
  it("the CLI (no deployment block known) reads each event kind in one call, and in ranges only when refused", async function () {
    const f = await loadFixture(walletFixture);
    const address = await f.wallet.getAddress();
    const RPC_LIMIT = 10_000; // a public RPC's range limit, the reader's default range
    await mine(2.5 * RPC_LIMIT); // a longer chain than one default range
    const addresses = {
      ThingToken: await f.token.getAddress(),
      DeviceRegistry: await f.registry.getAddress(),
      PaymentChannels: ZeroAddress,
      DeviceWalletFactory: await f.factory.getAddress(),
    };
    const expected = sortOwners(f.owners.map((o) => o.address));
    for (const refuse of [false, true]) {
      const ranges: [number, number][] = [];
      const counting: Eip1193Provider = {
        request: async (args) => {
          if (args.method === "eth_getLogs") {
            const [filter] = args.params as [{ fromBlock: string; toBlock: string }];
            const latest = Number(await network.provider.request({ method: "eth_blockNumber" }));
            const from = Number(filter.fromBlock);
            const to = filter.toBlock === "latest" ? latest : Number(filter.toBlock);
            ranges.push([from, to]);
            if (refuse && to - from + 1 > RPC_LIMIT) throw new Error(`query exceeds max block range ${RPC_LIMIT}`);
          }
          return network.provider.request(args);
        },
      };
      const ctx = await contextFor(new BrowserProvider(counting, undefined, { cacheTimeout: -1 }), addresses);
      const wallet = DeviceWallet__factory.connect(address, ctx.provider);
      const owners = await walletOwners(ctx, wallet, refuse ? { maxBlockRange: LIMIT } : {});
      expect(sortOwners(owners)).to.deep.equal(expected);
      if (!refuse)
        expect(ranges.length).to.equal(2); // the creation, then the owner changes: one call each
      else expect(ranges.filter(([from, to]) => to - from + 1 <= LIMIT).length).to.be.greaterThan(2);
    }
  });
});
