// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {CompactSignature} from "./CompactSignature.sol";
import {OwnerState} from "./OwnerState.sol";

/**
 * @title An owner set kept as a hash, and M-of-N approval against it
 * @dev The set is the owners' addresses in increasing order, 20 bytes each; the wallet keeps the top
 * 192 bits of its keccak256 next to the count, the threshold and the nonce (one {OwnerState} word).
 * A 192-bit hash leaves a 2^96 birthday bound and a 2^192 bound for finding a set matching a given wallet.
 */
library OwnerSet {
    /// @notice The owners given are not the wallet's owner set (or the approval's signers and non-signers
    /// do not merge into it).
    error WrongOwners();

    /// @notice An approval is not `threshold` signatures of 64 bytes plus `count - threshold` addresses of
    /// 20 bytes.
    /// @param length The approval's length, in bytes.
    /// @param expected The length the owner set and threshold require.
    error BadAuthLength(uint256 length, uint256 expected);

    /// @notice A signature does not recover to a signer (malformed, or a high s).
    /// @param index The signature's position in the approval (0 for a device's single signature).
    error InvalidSignature(uint256 index);

    /// @notice Signers are not in strictly increasing order (so one owner would count twice).
    /// @param signer The signer at or below its predecessor.
    error SignersNotSorted(address signer);

    /// @dev Reverts with {WrongOwners} unless `owners` is the set `state` holds.
    function requireSet(OwnerState state, address[] calldata owners) internal pure {
        if (!isSet(state, owners)) revert WrongOwners();
    }

    /// @dev True when `owners` is the set `state` holds.
    function isSet(OwnerState state, address[] calldata owners) internal pure returns (bool) {
        return owners.length == state.count() && hash(owners) == state.setHash();
    }

    /// @dev The set hash of `owners` (already sorted by the caller), as stored.
    function hash(address[] calldata owners) internal pure returns (uint256 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            for {
                let i := 0
            } lt(i, owners.length) {
                i := add(i, 1)
            } {
                // Each mstore writes 32 bytes; the next one overwrites the 12 trailing ones.
                mstore(add(ptr, mul(i, 20)), shl(96, calldataload(add(owners.offset, shl(5, i)))))
            }
            h := shr(64, keccak256(ptr, mul(owners.length, 20)))
        }
    }

    /**
     * @dev Reverts unless `auth` approves `digest` for the owner set in `state`. `auth` holds exactly
     * `threshold` compact signatures (64 bytes each, signers strictly increasing), then the
     * `count - threshold` owners who did not sign (20 bytes each, increasing). Signers and non-signers are
     * merged in order and the result must hash to the stored set: so every signer is an owner, none twice.
     */
    function checkApproval(bytes32 digest, OwnerState state, bytes calldata auth) internal pure {
        uint256 count = state.count();
        uint256 threshold = state.threshold();
        uint256 others;
        uint256 expected;
        // Cannot underflow: the stored threshold never exceeds the count. Cannot overflow: both are < 256.
        unchecked {
            others = count - threshold;
            expected = threshold * 64 + others * 20;
        }
        if (auth.length != expected) revert BadAuthLength(auth.length, expected);
        uint256 ptr;
        assembly ("memory-safe") {
            // Reserve the merged list (plus the overhang of the last 32-byte write): ecrecover uses free memory.
            ptr := mload(0x40)
            mstore(0x40, add(ptr, add(mul(count, 20), 32)))
        }
        uint256 written = ptr;
        uint256 o;
        uint256 othersStart;
        assembly ("memory-safe") {
            othersStart := add(auth.offset, shl(6, threshold))
        }
        address previous;
        for (uint256 i; i < threshold; ++i) {
            bytes32 r;
            bytes32 vs;
            assembly ("memory-safe") {
                let at := add(auth.offset, shl(6, i))
                r := calldataload(at)
                vs := calldataload(add(at, 32))
            }
            address signer = CompactSignature.recover(digest, r, vs);
            if (signer == address(0)) revert InvalidSignature(i);
            if (signer <= previous) revert SignersNotSorted(signer);
            previous = signer;
            // Non-signers below this signer come first.
            assembly ("memory-safe") {
                for {} lt(o, others) {
                    o := add(o, 1)
                } {
                    let other := shr(96, calldataload(add(othersStart, mul(o, 20))))
                    if gt(other, signer) {
                        break
                    }
                    mstore(written, shl(96, other))
                    written := add(written, 20)
                }
                mstore(written, shl(96, signer))
                written := add(written, 20)
            }
        }
        bytes32 setHash;
        assembly ("memory-safe") {
            for {} lt(o, others) {
                o := add(o, 1)
            } {
                mstore(written, shl(96, shr(96, calldataload(add(othersStart, mul(o, 20))))))
                written := add(written, 20)
            }
            setHash := keccak256(ptr, mul(count, 20))
        }
        if (uint256(setHash) >> 64 != state.setHash()) revert WrongOwners();
    }
}
