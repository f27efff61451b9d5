import { expect } from "chai";
import { getAddress, hexlify, isAddress as ethersIsAddress } from "ethers";
import fc from "fast-check";

import { checksumAddress, checksumHex, isAddress } from "../../src/chain/address";

describe("chain/address: one EIP-55 implementation for the AS and the whitelist", function () {
  it("property: isAddress accepts exactly what ethers accepts, under any case flips", function () {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.array(fc.nat(39)), (bytes, flips) => {
        const good = getAddress(hexlify(bytes));
        const chars = good.split("");
        for (const i of flips) {
          const c = chars[i + 2];
          chars[i + 2] = c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase();
        }
        const mutated = chars.join("");
        expect(isAddress(mutated)).to.equal(ethersIsAddress(mutated));
        expect(checksumHex(good.slice(2).toLowerCase())).to.equal(good);
        if (isAddress(mutated)) expect(checksumAddress(mutated)).to.equal(good);
        else expect(() => checksumAddress(mutated)).to.throw(`"${mutated}" has a bad checksum`);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses what is not an address, naming it", function () {
    for (const bad of ["", "0x", `0x${"1".repeat(39)}`, `0x${"1".repeat(41)}`, `0x${"g".repeat(40)}`, "1".repeat(42)]) {
      expect(isAddress(bad)).to.equal(false);
      expect(() => checksumAddress(bad)).to.throw(`"${bad}" is not an address`);
    }
  });
});
