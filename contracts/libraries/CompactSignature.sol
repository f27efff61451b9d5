// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @title Recovery of secp256k1 signatures: EIP-2098 compact (r, vs), and (r, s, v) from calldata
 * @dev The one signature path of the contracts. Returns the zero address for anything that is not a valid
 * low-s signature (a high s, a v other than 27 or 28, a point that recovers nothing), so callers have one
 * check: a zero result is a bad signature, never a signer.
 */
library CompactSignature {
    uint256 private constant _S_MASK = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff;
    /// @dev secp256k1n / 2: a larger s is the malleable twin of a valid signature.
    uint256 private constant _HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @dev A compact signature: yParity is the top bit of `vs`, s the other 255.
    function recover(bytes32 digest, bytes32 r, bytes32 vs) internal pure returns (address signer) {
        uint256 s = uint256(vs) & _S_MASK;
        if (s > _HALF_N) return address(0);
        // yParity is the top bit of vs; v is 27 or 28.
        uint8 v = uint8((uint256(vs) >> 255) + 27);
        signer = ecrecover(digest, v, r, bytes32(s));
    }

    /// @dev `signature` is 64 bytes (r, vs) or 65 bytes (r, s, v); any other length recovers nothing.
    function recoverCalldata(bytes32 digest, bytes calldata signature) internal pure returns (address signer) {
        uint256 length = signature.length;
        bytes32 r;
        uint256 s;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 0x20))
            switch length
            case 64 {
                v := add(shr(255, s), 27)
                s := and(s, _S_MASK)
            }
            case 65 {
                v := byte(0, calldataload(add(signature.offset, 0x40)))
            }
        }
        // v stays 0 for any other length, for which the precompile recovers nothing (zero).
        if (s > _HALF_N) return address(0);
        signer = ecrecover(digest, v, r, bytes32(s));
    }
}
