// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @dev One storage word per auditor. Layout, from the lowest bit: budget (88 bits) | earned (96) |
 * per-epoch reward cap (16) | reward epoch (32) | changed scores rewarded in that epoch (16) | active (8).
 * A score submission reads and writes this word once.
 *
 * Widths: a budget never exceeds (MAX_EPOCH_REWARDS + 64) * MAX_AUDIT_REWARD, about 1e24 < 2^88; earned
 * rewards stay below the token's supply (< 2^96, as the registry's fee credit); the cap and the rewarded
 * count are at most MAX_EPOCH_REWARDS < 2^16. Callers pass values within these widths.
 */
type PackedAuditor is uint256;

using PackedAuditorLibrary for PackedAuditor global;

/// @title Accessors of {PackedAuditor}
library PackedAuditorLibrary {
    uint256 private constant _MASK88 = (1 << 88) - 1;
    uint256 private constant _MASK96 = (1 << 96) - 1;
    uint256 private constant _MASK16 = (1 << 16) - 1;
    uint256 private constant _EARNED_SHIFT = 88;
    uint256 private constant _CAP_SHIFT = 184;
    uint256 private constant _EPOCH_SHIFT = 200;
    uint256 private constant _REWARDED_SHIFT = 232;
    uint256 private constant _ACTIVE_SHIFT = 248;

    function pack(
        bool active_,
        uint256 budget_,
        uint256 earned_,
        uint256 rewardCap_,
        uint32 rewardEpoch_,
        uint256 rewardedInEpoch_
    ) internal pure returns (PackedAuditor) {
        return
            PackedAuditor.wrap(
                budget_ |
                    (earned_ << _EARNED_SHIFT) |
                    (rewardCap_ << _CAP_SHIFT) |
                    (uint256(rewardEpoch_) << _EPOCH_SHIFT) |
                    (rewardedInEpoch_ << _REWARDED_SHIFT) |
                    (_bit(active_) << _ACTIVE_SHIFT)
            );
    }

    function active(PackedAuditor word) internal pure returns (bool) {
        return PackedAuditor.unwrap(word) >> _ACTIVE_SHIFT != 0;
    }

    function budget(PackedAuditor word) internal pure returns (uint256) {
        return PackedAuditor.unwrap(word) & _MASK88;
    }

    function earned(PackedAuditor word) internal pure returns (uint256) {
        return (PackedAuditor.unwrap(word) >> _EARNED_SHIFT) & _MASK96;
    }

    function rewardCap(PackedAuditor word) internal pure returns (uint256) {
        return (PackedAuditor.unwrap(word) >> _CAP_SHIFT) & _MASK16;
    }

    function rewardEpoch(PackedAuditor word) internal pure returns (uint32) {
        return uint32(PackedAuditor.unwrap(word) >> _EPOCH_SHIFT);
    }

    function rewardedInEpoch(PackedAuditor word) internal pure returns (uint256) {
        return (PackedAuditor.unwrap(word) >> _REWARDED_SHIFT) & _MASK16;
    }

    function withActive(PackedAuditor word, bool active_) internal pure returns (PackedAuditor) {
        return
            PackedAuditor.wrap(
                (PackedAuditor.unwrap(word) & ~(uint256(0xff) << _ACTIVE_SHIFT)) | (_bit(active_) << _ACTIVE_SHIFT)
            );
    }

    function withBudget(PackedAuditor word, uint256 budget_) internal pure returns (PackedAuditor) {
        return PackedAuditor.wrap((PackedAuditor.unwrap(word) & ~_MASK88) | budget_);
    }

    function withEarned(PackedAuditor word, uint256 earned_) internal pure returns (PackedAuditor) {
        return
            PackedAuditor.wrap((PackedAuditor.unwrap(word) & ~(_MASK96 << _EARNED_SHIFT)) | (earned_ << _EARNED_SHIFT));
    }

    function withRewardCap(PackedAuditor word, uint256 rewardCap_) internal pure returns (PackedAuditor) {
        return PackedAuditor.wrap((PackedAuditor.unwrap(word) & ~(_MASK16 << _CAP_SHIFT)) | (rewardCap_ << _CAP_SHIFT));
    }

    /// @dev 1 for true, 0 for false, without a branch.
    function _bit(bool b) private pure returns (uint256 r) {
        assembly ("memory-safe") {
            r := b
        }
    }
}
