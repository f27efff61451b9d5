// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Recovery of EIP-2098 compact signatures (r, yParity and s in vs)
/// @notice Returns the zero address for anything that is not a valid low-s signature, so callers have
/// one check: a zero result is a bad signature, never a signer.
library CompactSignature {
    uint256 private constant _S_MASK = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff;
    /// @dev secp256k1n / 2: a larger s is the malleable twin of a valid signature.
    uint256 private constant _HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    function recover(bytes32 digest, bytes32 r, bytes32 vs) internal pure returns (address signer) {
        uint256 s = uint256(vs) & _S_MASK;
        if (s > _HALF_N) return address(0);
        // yParity is the top bit of vs; v is 27 or 28.
        uint8 v = uint8((uint256(vs) >> 255) + 27);
        signer = ecrecover(digest, v, r, bytes32(s));
    }
}
