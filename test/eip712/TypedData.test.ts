import fs from "node:fs";
import path from "node:path";

import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { TypedDataField } from "ethers";
import { ethers } from "hardhat";

import { ACTIVATE_TYPES, IDENTITY_CLAIM_TYPES, PAY_ACTIVATION_TYPES, ROTATE_KEY_TYPES } from "../../src/eip712/device";
import { readDomain, typeHash, typeString } from "../../src/eip712/domain";
import { PERMIT_TYPES } from "../../src/eip712/permit";
import { RECEIPT_TYPES, REDELIVER_TYPES } from "../../src/eip712/receipt";
import { REPORT_TYPES } from "../../src/eip712/report";
import { DEVICE_TRANSFER_TYPES, EXECUTE_TYPES } from "../../src/eip712/wallet";
import { UserError } from "../../src/errors";
import { channelsFixture, walletFixture } from "../shared/fixtures";

/** Every typed message ThingLedger signs, by primary type. */
const TYPED: Record<string, Record<string, TypedDataField[]>> = {
  Activate: ACTIVATE_TYPES,
  PayActivation: PAY_ACTIVATION_TYPES,
  RotateKey: ROTATE_KEY_TYPES,
  IdentityClaim: IDENTITY_CLAIM_TYPES,
  Receipt: RECEIPT_TYPES,
  Execute: EXECUTE_TYPES,
  DeviceTransfer: DEVICE_TRANSFER_TYPES,
  Permit: PERMIT_TYPES,
  DeviceReport: REPORT_TYPES,
  Redeliver: REDELIVER_TYPES,
};

/** Checked off chain only (reports by auditors, redelivery requests by the AS): no contract hashes them. */
const OFF_CHAIN = ["DeviceReport", "Redeliver"];

function solidityFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? solidityFiles(path.join(dir, e.name)) : e.name.endsWith(".sol") ? [path.join(dir, e.name)] : [],
    );
}

/** The type strings the contracts hash, `keccak256("Name(type name,…)")`, by primary type; permit's from OpenZeppelin. */
function solidityTypeStrings(): Map<string, string> {
  const sources = [
    ...solidityFiles("contracts"),
    "node_modules/@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol",
  ];
  const found = new Map<string, string>();
  for (const file of sources) {
    const text = fs.readFileSync(file, "utf8");
    for (const m of text.matchAll(/keccak256\(\s*"([A-Za-z0-9_]+)\(([^"]*)\)"\s*\)/g)) {
      const typeStr = `${m[1]}(${m[2]})`;
      expect(found.get(m[1]) ?? typeStr, `${m[1]} hashed with two type strings`).to.equal(typeStr);
      found.set(m[1], typeStr);
    }
  }
  return found;
}

describe("EIP-712: the TypeScript types and domains agree with the contracts", function () {
  it("each Solidity typehash string is the TypeScript type's encoding, and every one has a TypeScript type", function () {
    const solidity = solidityTypeStrings();
    const onChain = Object.keys(TYPED).filter((t) => !OFF_CHAIN.includes(t));
    expect([...solidity.keys()].sort()).to.deep.equal(onChain.sort());
    for (const primary of onChain) {
      expect(typeString(TYPED[primary], primary), primary).to.equal(solidity.get(primary));
      expect(typeHash(TYPED[primary], primary), primary).to.equal(ethers.id(solidity.get(primary)!));
    }
    expect(typeString(REPORT_TYPES, "DeviceReport")).to.equal(
      "DeviceReport(bytes32 reporterId,bytes32 subjectId,bytes32 interaction,uint8 rating,uint64 timestamp)",
    );
  });

  it("readDomain reads each contract's own domain: the members the signatures have always used", async function () {
    const w = await loadFixture(walletFixture);
    const c = await loadFixture(channelsFixture);
    expect(c.chainId).to.equal(w.chainId);
    const cases = [
      [w.registry, "ThingLedger DeviceRegistry"],
      [w.wallet, "ThingLedger DeviceWallet"],
      [w.token, "ThingToken"],
      [c.channels, "ThingLedger PaymentChannels"],
    ] as const;
    for (const [contract, name] of cases) {
      if (contract === c.channels) await loadFixture(channelsFixture);
      else await loadFixture(walletFixture);
      const address = await contract.getAddress();
      expect(await readDomain(contract), name).to.deep.equal({
        name,
        version: "1",
        chainId: w.chainId,
        verifyingContract: address,
      });
      expect(await readDomain({ runner: ethers.provider, address }), name).to.deep.equal(await readDomain(contract));
    }
  });

  it("readDomain refuses an address that states no domain, in one line", async function () {
    const w = await loadFixture(walletFixture);
    for (const address of [w.alice.address, await w.factory.getAddress()]) {
      const caught = await readDomain({ runner: ethers.provider, address }).catch((e: unknown) => e);
      expect(caught).to.be.instanceOf(UserError);
      expect((caught as Error).message).to.equal(
        `${address} states no EIP-712 domain (it has no ERC-5267 eip712Domain())`,
      );
    }
  });
});
