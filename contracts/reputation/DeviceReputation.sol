// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IDeviceReputation} from "../interfaces/IDeviceReputation.sol";
import {PackedAuditor, PackedAuditorLibrary} from "../libraries/PackedAuditor.sol";
import {RegistryBase} from "../registry/RegistryBase.sol";

/**
 * @title Device reputation, part of the device registry
 * @notice See {IDeviceReputation}.
 * @dev A device's score shares the storage word of its owner (written at activation), so a first score
 * costs no more than a later one and the "is it activated" check is the same read. Each auditor is one
 * {PackedAuditor} word.
 */
abstract contract DeviceReputation is IDeviceReputation, RegistryBase {
    using SafeERC20 for IERC20;

    /// @dev A budget refill reserves this many rewards ahead, so most batches touch no global state.
    uint256 private constant _REFILL_REWARDS = 64;
    /// @dev Bytes per entry of {updateScoresPacked}: reference (12), score (2), trend (1).
    uint256 private constant _PACKED_ENTRY = 15;

    /// @notice A new auditor's per-epoch reward cap (changed scores rewarded per epoch).
    uint256 public constant DEFAULT_EPOCH_REWARDS = 1_000;
    /// @notice The highest per-epoch reward cap the admin may give an auditor.
    uint256 public constant MAX_EPOCH_REWARDS = 10_000;
    /// @notice The highest reward per changed score.
    uint256 public constant MAX_AUDIT_REWARD = 100e18;

    uint256 private immutable _epochLength;
    uint256 private immutable _auditReward;

    /// @dev One word per auditor (see {PackedAuditor}); its budget and earned rewards are backed by `_reserved`.
    mapping(address account => PackedAuditor packed) private _auditors;
    /// @dev Sum of every auditor's budget and earned rewards.
    uint256 private _reserved;

    constructor(uint256 epochLength_, uint256 auditReward_) {
        if (epochLength_ == 0) revert ZeroEpochLength();
        if (auditReward_ > MAX_AUDIT_REWARD) revert FeeAboveCap(auditReward_, MAX_AUDIT_REWARD);
        _epochLength = epochLength_;
        _auditReward = auditReward_;
    }

    /// @inheritdoc IDeviceReputation
    function addAuditor(address auditor) external onlyOwner {
        if (auditor == address(0)) revert ZeroAddress();
        PackedAuditor word = _auditors[auditor];
        if (word.active()) revert AuditorAlreadyActive(auditor);
        // A re-admitted auditor keeps its reward epoch and count: removal does not reset its cap's use.
        _auditors[auditor] = word.withActive(true).withRewardCap(DEFAULT_EPOCH_REWARDS);
        emit AuditorAdded(auditor);
        emit AuditorRewardCapSet(auditor, DEFAULT_EPOCH_REWARDS);
    }

    /// @inheritdoc IDeviceReputation
    function setAuditorRewardCap(address auditor, uint256 maxRewardsPerEpoch) external onlyOwner {
        if (maxRewardsPerEpoch > MAX_EPOCH_REWARDS) {
            revert RewardCapAboveLimit(maxRewardsPerEpoch, MAX_EPOCH_REWARDS);
        }
        PackedAuditor word = _auditors[auditor];
        if (!word.active()) revert NotAuditor(auditor);
        _auditors[auditor] = word.withRewardCap(maxRewardsPerEpoch);
        emit AuditorRewardCapSet(auditor, maxRewardsPerEpoch);
    }

    /// @inheritdoc IDeviceReputation
    function removeAuditor(address auditor) external onlyOwner {
        PackedAuditor word = _auditors[auditor];
        if (!word.active()) revert NotAuditor(auditor);
        uint256 budget = word.budget();
        _auditors[auditor] = word.withActive(false).withBudget(0);
        _reserved -= budget;
        emit AuditorRemoved(auditor, budget);
    }

    /// @inheritdoc IDeviceReputation
    function updateScore(
        bytes32 deviceId,
        uint16 score,
        int8 trend,
        uint32 epoch,
        bytes32 reportsRoot,
        uint32 reportCount
    ) external {
        address auditor = _msgSender();
        PackedAuditor word = _activeAuditor(auditor, epoch);
        uint256 changed = _apply(_deviceState(deviceId), score, uint256(int256(trend)), epoch, deviceId, 0);
        _reward(auditor, word, changed, epoch, reportsRoot, reportCount);
    }

    /// @inheritdoc IDeviceReputation
    function updateScores(
        ScoreUpdate[] calldata updates,
        uint32 epoch,
        bytes32 reportsRoot,
        uint32 reportCount
    ) external {
        if (updates.length == 0) revert EmptyBatch();
        address auditor = _msgSender();
        PackedAuditor word = _activeAuditor(auditor, epoch);
        uint256 changed;
        // The entries are read straight from calldata, three words each: the ABI decoder has checked that
        // the array lies within calldata, and {_apply} checks each score and trend word as the decoder would.
        uint256 p;
        uint256 end;
        assembly ("memory-safe") {
            p := updates.offset
            // Cannot overflow: the array lies within calldata.
            end := add(p, mul(updates.length, 0x60))
        }
        for (; p < end;) {
            bytes32 deviceId;
            uint256 score;
            uint256 trend;
            assembly ("memory-safe") {
                deviceId := calldataload(p)
                score := calldataload(add(p, 0x20))
                trend := calldataload(add(p, 0x40))
            }
            // Cannot overflow: changed <= updates.length, and p < end lies within calldata.
            unchecked {
                changed += _apply(_deviceState(deviceId), score, trend, epoch, deviceId, 0);
                p += 0x60;
            }
        }
        _reward(auditor, word, changed, epoch, reportsRoot, reportCount);
    }

    /// @inheritdoc IDeviceReputation
    function updateScoresPacked(
        bytes calldata entries,
        uint32 epoch,
        bytes32 reportsRoot,
        uint32 reportCount
    ) external {
        uint256 length = entries.length;
        if (length == 0 || length % _PACKED_ENTRY != 0) revert MalformedPackedScores(length);
        address auditor = _msgSender();
        PackedAuditor word = _activeAuditor(auditor, epoch);
        uint256 changed;
        // The ABI decoder has checked that the bytes lie within calldata; the last entry's word reads past
        // their end, which is within calldata or zero, and only its first 15 bytes are used.
        uint256 p;
        uint256 end;
        assembly ("memory-safe") {
            p := entries.offset
            end := add(p, length)
        }
        for (; p < end;) {
            uint256 entry;
            assembly ("memory-safe") {
                entry := calldataload(p)
            }
            // ref (96 bits) | score (16) | trend (8), from the top of the word.
            uint96 ref = uint96(entry >> 160);
            uint256 score = (entry >> 144) & 0xffff;
            // The trend byte sign-extended: the word an int8 has in the ABI, checked as in {updateScores}.
            uint256 trend;
            assembly ("memory-safe") {
                trend := signextend(0, shr(136, entry))
            }
            // Cannot overflow: changed <= the entry count; p < end lies within calldata.
            unchecked {
                changed += _apply(_refState(ref), score, trend, epoch, bytes32(0), ref);
                p += _PACKED_ENTRY;
            }
        }
        _reward(auditor, word, changed, epoch, reportsRoot, reportCount);
    }

    /// @inheritdoc IDeviceReputation
    function withdrawAuditorReward() external returns (uint256 amount) {
        address auditor = _msgSender();
        PackedAuditor word = _auditors[auditor];
        amount = word.earned();
        if (amount == 0) revert NothingToWithdraw(auditor);
        _auditors[auditor] = word.withEarned(0);
        _reserved -= amount;
        _feeToken().safeTransfer(auditor, amount);
        emit AuditorRewardWithdrawn(auditor, amount);
    }

    /// @inheritdoc IDeviceReputation
    function auditorInfo(address auditor) external view returns (AuditorView memory) {
        PackedAuditor w = _auditors[auditor];
        return AuditorView(w.active(), w.budget(), w.earned(), w.rewardCap(), w.rewardEpoch(), w.rewardedInEpoch());
    }

    /// @inheritdoc IDeviceReputation
    function reputationOf(bytes32 deviceId) public view returns (Reputation memory r) {
        uint256 st = _activatedStateWord(deviceId);
        uint16 scorePlusOne = uint16(st >> 160);
        if (scorePlusOne != 0) r = Reputation(scorePlusOne - 1, int8(uint8(st >> 176)), uint32(st >> 184), true);
    }

    /// @inheritdoc IDeviceReputation
    function currentEpoch() public view returns (uint32) {
        return uint32(block.timestamp / _epochLength);
    }

    /// @inheritdoc IDeviceReputation
    function epochLength() external view returns (uint256) {
        return _epochLength;
    }

    /// @inheritdoc IDeviceReputation
    function auditReward() external view returns (uint256) {
        return _auditReward;
    }

    /// @inheritdoc IDeviceReputation
    function rewardsReserved() external view returns (uint256) {
        return _reserved;
    }

    // ---------------------------------------------------------------- internal

    /// @dev The pool excludes what auditors hold in reserve.
    function _reservedForRewards() internal view override returns (uint256) {
        return _reserved;
    }

    /// @dev Called by the registry's revocation of an active device (whose reference's word is its own): it
    /// can never be scored again. Returns its owner. (The registry does not call it for a device never
    /// activated: the word of its reference may be another device's.)
    function _revokeScoring(bytes32 deviceId) internal returns (address owner_) {
        DeviceState storage st = _deviceState(deviceId);
        owner_ = st.owner;
        if (owner_ != address(0)) st.revoked = true;
    }

    function _activeAuditor(address auditor, uint32 epoch) private view returns (PackedAuditor word) {
        word = _auditors[auditor];
        if (!word.active()) revert NotAuditor(auditor);
        uint32 current = currentEpoch();
        if (epoch != current) revert WrongEpoch(epoch, current);
    }

    /// @dev Checks one entry and writes it into its {DeviceState} word `st`; returns 1 when written, 0 when
    /// skipped (a revoked device, already changed this epoch, or unchanged). A word without owner reverts.
    /// The entry is named by `deviceId`, or by `ref` when `deviceId` is zero (a packed entry; an entry of the
    /// zero id, never auditable, reverts naming reference 0).
    /// `score` and `trend` are the raw ABI words of a uint16 and an int8: a word that is no valid encoding
    /// (which the ABI decoder would refuse) is refused naming it; a valid one out of range names the value.
    /// Reads and writes the word whole: Solidity packs its fields from the low end, so `owner` is bits 0-159,
    /// then `scorePlusOne` (16 bits), `trend` (8), `epoch` (32) and `revoked` (8). One read, one write, no
    /// per-field masking (the reputation tests read every field back through the struct).
    function _apply(
        DeviceState storage st,
        uint256 score,
        uint256 trend,
        uint32 epoch,
        bytes32 deviceId,
        uint96 ref
    ) private returns (uint256) {
        if (score > MAX_SCORE) {
            if (score > type(uint16).max) revert MalformedScoreUpdate(deviceId, score);
            revert ScoreOutOfRange(uint16(score));
        }
        // The words of -1, 0 and 1 are exactly those with trend + 1 (wrapping) <= 2.
        unchecked {
            if (trend + 1 > 2) {
                if (int256(trend) < type(int8).min || int256(trend) > type(int8).max) {
                    revert MalformedScoreUpdate(deviceId, trend);
                }
                revert InvalidTrend(int8(int256(trend)));
            }
        }
        uint256 word;
        assembly ("memory-safe") {
            word := sload(st.slot)
        }
        if (uint160(word) == 0) {
            if (deviceId != 0) revert DeviceNotAuditable(deviceId);
            revert RefNotAuditable(ref);
        }
        // The fields after the owner: scorePlusOne | trend << 16 | epoch << 24 | revoked << 56.
        uint256 fields = word >> 160;
        if (fields >> 56 != 0) {
            if (deviceId != 0) emit RevokedDeviceSkipped(deviceId, epoch);
            else emit RevokedRefSkipped(ref, epoch);
            return 0;
        }
        // Cannot overflow: score <= MAX_SCORE. The trend's low byte is its two's complement, as stored.
        uint256 next;
        unchecked {
            next = (score + 1) | ((trend & 0xff) << 16);
        }
        // Skipped if scored before and either in this epoch or to the same score and trend (`fields >> 24`
        // is the epoch alone: `revoked` is 0 and the spare bits are never set).
        // Computed without branches: one test instead of short-circuit jumps.
        uint256 skip;
        assembly ("memory-safe") {
            skip := and(
                iszero(iszero(and(fields, 0xffff))),
                or(eq(shr(24, fields), epoch), eq(and(fields, 0xffffff), next))
            )
        }
        if (skip != 0) return 0;
        // The owner kept, the score fields replaced, `revoked` (0, checked above) and the spare bits left 0.
        word = uint256(uint160(word)) | ((next | (uint256(epoch) << 24)) << 160);
        assembly ("memory-safe") {
            sstore(st.slot, word)
        }
        return 1;
    }

    /// @dev Pays for `changed` scores from the auditor's budget, refilling it from the pool when short, within
    /// what the epoch still allows it: min(reportCount, its cap) less what it was already rewarded for.
    function _reward(
        address auditor,
        PackedAuditor word,
        uint256 changed,
        uint32 epoch,
        bytes32 root,
        uint32 reportCount
    ) private {
        if (changed > reportCount) revert ChangesExceedReports(changed, reportCount);
        uint256 rewarded;
        if (changed != 0 && _auditReward != 0) {
            uint256 used = word.rewardEpoch() == epoch ? word.rewardedInEpoch() : 0;
            uint256 cap = word.rewardCap();
            uint256 rewardable = cap < reportCount ? cap : reportCount;
            // Cannot underflow: subtracted only when larger. Then rewardable <= min(changed, cap - used).
            unchecked {
                rewardable = rewardable > used ? rewardable - used : 0;
            }
            if (rewardable > changed) rewardable = changed;
            if (rewardable != 0) {
                uint256 budget = word.budget();
                uint256 needed = rewardable * _auditReward;
                if (budget < needed) {
                    // What this batch lacks plus a chunk ahead, so the next batches need no refill.
                    uint256 want = needed - budget + _REFILL_REWARDS * _auditReward;
                    uint256 available = _rewardPool();
                    uint256 grant = want < available ? want : available;
                    _reserved += grant;
                    // Stays within 88 bits: budget + grant <= needed + 64 rewards <= (MAX_EPOCH_REWARDS + 64)
                    // * MAX_AUDIT_REWARD.
                    budget += grant;
                }
                rewarded = budget / _auditReward;
                if (rewarded > rewardable) rewarded = rewardable;
                uint256 paid = rewarded * _auditReward;
                // Cannot underflow: paid <= budget by construction. earned stays below the token's supply,
                // used + rewarded <= cap <= MAX_EPOCH_REWARDS: both fit their fields.
                unchecked {
                    _auditors[auditor] = PackedAuditorLibrary.pack(
                        true,
                        budget - paid,
                        word.earned() + paid,
                        cap,
                        epoch,
                        used + rewarded
                    );
                }
            }
        }
        emit ScoresUpdated(auditor, epoch, root, reportCount, changed, rewarded);
    }
}
