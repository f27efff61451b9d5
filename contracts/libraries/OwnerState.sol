// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @dev A device wallet's owner word. Layout, from the lowest bit: owner count (8 bits) | threshold (8) |
 * execution nonce (48) | owner-set hash (192, see {OwnerSet}). The zero word is an uninitialised wallet;
 * the implementation behind the clones holds {OWNER_STATE_LOCKED}, which no initialisation accepts.
 */
type OwnerState is uint256;

using OwnerStateLibrary for OwnerState global;

/// @dev Every bit set: the implementation's state, never a real owner set (a count of 255 > MAX_OWNERS).
OwnerState constant OWNER_STATE_LOCKED = OwnerState.wrap(type(uint256).max);

/// @title Accessors of {OwnerState}
library OwnerStateLibrary {
    uint256 private constant _THRESHOLD_SHIFT = 8;
    uint256 private constant _NONCE_SHIFT = 16;
    uint256 private constant _HASH_SHIFT = 64;

    /// @dev `setHash_` is the 192-bit value {OwnerSet.hash} returns; `count_` and `threshold_` are at most
    /// 255 and `nonce_` below 2^48 (callers check).
    function pack(
        uint256 count_,
        uint8 threshold_,
        uint256 nonce_,
        uint256 setHash_
    ) internal pure returns (OwnerState) {
        return
            OwnerState.wrap(
                count_ |
                    (uint256(threshold_) << _THRESHOLD_SHIFT) |
                    (nonce_ << _NONCE_SHIFT) |
                    (setHash_ << _HASH_SHIFT)
            );
    }

    /// @dev True before initialisation.
    function isEmpty(OwnerState state) internal pure returns (bool) {
        return OwnerState.unwrap(state) == 0;
    }

    function count(OwnerState state) internal pure returns (uint8) {
        return uint8(OwnerState.unwrap(state));
    }

    function threshold(OwnerState state) internal pure returns (uint8) {
        return uint8(OwnerState.unwrap(state) >> _THRESHOLD_SHIFT);
    }

    function nonce(OwnerState state) internal pure returns (uint256) {
        return (OwnerState.unwrap(state) >> _NONCE_SHIFT) & type(uint48).max;
    }

    /// @dev The top 192 bits of the owner set's keccak256 (see {OwnerSet.hash}).
    function setHash(OwnerState state) internal pure returns (uint256) {
        return OwnerState.unwrap(state) >> _HASH_SHIFT;
    }

    /// @dev The same state with its nonce advanced by one.
    function withNextNonce(OwnerState state) internal pure returns (OwnerState) {
        // Cannot overflow into the hash: the nonce would need 2^48 executions, each a signed transaction.
        unchecked {
            return OwnerState.wrap(OwnerState.unwrap(state) + (1 << _NONCE_SHIFT));
        }
    }
}
