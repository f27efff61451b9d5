import { expect } from "chai";
import { AbiCoder, Signature, Wallet, getAddress, hexlify, keccak256, recoverAddress } from "ethers";
import fc from "fast-check";

import { channelIdOf } from "../../src/channels/key";
import type { ChannelKey } from "../../src/channels/key";
import { checksumHex } from "../../src/chain/address";
import { ReceiptVerifier, keccak, nativeChannelId, recoverSigner } from "../../src/channels/verify";

/** The reference: ethers' ABI coder and keccak, as `channelIdOf` was before its native fast path. */
function ethersChannelId(k: ChannelKey): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["address", "address", "bool", "bytes32", "uint96", "uint64"],
      [k.owner, k.payee, k.token, k.clientRoot, k.salt, k.openBlock],
    ),
  );
}

const bytes = (n: number): fc.Arbitrary<string> => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => hexlify(b));
/** An address as a client may send it: lowercase, checksummed, or all-uppercase hex. */
const address = fc
  .tuple(bytes(20), fc.constantFrom("lower", "checksum", "upper"))
  .map(([a, form]) => (form === "lower" ? a : form === "checksum" ? getAddress(a) : `0x${a.slice(2).toUpperCase()}`));
const key: fc.Arbitrary<ChannelKey> = fc.record({
  owner: address,
  payee: address,
  token: fc.boolean(),
  clientRoot: bytes(32),
  salt: fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }),
  openBlock: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
});

describe("receipt verification fast paths (native keccak and libsecp256k1)", function () {
  it("property: keccak (the native state, reused) is ethers' keccak256, for inputs of any length", function () {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 400 }), { minLength: 1, maxLength: 4 }), (inputs) => {
        // Hash several inputs before checking: a digest must not change when the state is reused.
        const digests = inputs.map((input) => keccak(Buffer.from(input)));
        inputs.forEach((input, i) => expect(hexlify(digests[i])).to.equal(keccak256(input)));
      }),
      { numRuns: 300 },
    );
  });

  it("property: the native channel id equals ethers' ABI encoding hashed, for every valid key", function () {
    fc.assert(
      fc.property(key, (k) => {
        expect(nativeChannelId(k)).to.equal(ethersChannelId(k));
        expect(channelIdOf(k)).to.equal(ethersChannelId(k));
      }),
      { numRuns: 300 },
    );
  });

  it("leaves to ethers what ethers rejects: a bad checksum, a salt over 96 bits, a block over 64 bits", function () {
    const good: ChannelKey = {
      owner: getAddress(`0x${"ab".repeat(20)}`),
      payee: `0x${"cd".repeat(20)}`,
      token: false,
      clientRoot: `0x${"11".repeat(32)}`,
      salt: 1n,
      openBlock: 2n,
    };
    // One letter's case flipped: a checksummed address with a typo.
    const i = good.owner.search(/[A-F]/);
    const badChecksum = `${good.owner.slice(0, i)}${good.owner[i].toLowerCase()}${good.owner.slice(i + 1)}`;
    for (const bad of [
      { ...good, owner: badChecksum },
      { ...good, salt: 1n << 96n },
      { ...good, salt: -1n },
      { ...good, openBlock: 1n << 64n },
    ]) {
      expect(nativeChannelId(bad)).to.equal(undefined);
      expect(() => channelIdOf(bad)).to.throw();
    }
    expect(nativeChannelId(good)).to.equal(ethersChannelId(good));
    // Once the good key is remembered, its fields moved across the separators are still not accepted.
    const shifted = { ...good, owner: good.owner.slice(0, 41), payee: `${good.owner.slice(41)}${good.payee}` };
    expect(nativeChannelId(shifted)).to.equal(undefined);
    expect(nativeChannelId(good)).to.equal(ethersChannelId(good));
  });

  it("property: checksumHex is ethers' getAddress, and recoverSigner is ethers' recoverAddress", function () {
    const verifier = new ReceiptVerifier({
      name: "n",
      version: "1",
      chainId: 1n,
      verifyingContract: getAddress(`0x${"22".repeat(20)}`),
    });
    fc.assert(
      fc.property(bytes(20), bytes(32), fc.bigInt({ min: 1n, max: 1n << 200n }), (a, channelId, amount) => {
        expect(checksumHex(a.slice(2))).to.equal(getAddress(a));
        const wallet = new Wallet(keccak256(`${a}01`));
        const digest = verifier.digest(channelId, amount);
        const signature = Signature.from(wallet.signingKey.sign(digest)).serialized;
        expect(recoverSigner(digest, signature))
          .to.equal(recoverAddress(digest, signature))
          .and.to.equal(wallet.address);
        expect(verifier.recover(channelId, amount, signature)).to.equal(wallet.address);
      }),
      { numRuns: 100 },
    );
  });
});
