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
        uint256 changed = _apply(deviceId, score, trend, epoch) ? 1 : 0;
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
        for (uint256 i; i < updates.length; ++i) {
            ScoreUpdate calldata u = updates[i];
            // Cannot overflow: at most updates.length.
            unchecked {
                if (_apply(u.deviceId, u.score, u.trend, epoch)) ++changed;
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
        DeviceState memory st = _deviceState(deviceId);
        if (st.scorePlusOne != 0) r = Reputation(st.scorePlusOne - 1, st.trend, st.epoch, true);
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

    /// @dev Called by the registry's revocation: the device can never be scored again. Returns its owner
    /// (zero if it was never activated; such a device is not auditable anyway, so nothing is written).
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

    /// @dev Writes one score; false when the entry is skipped (a revoked device, already changed this
    /// epoch, or unchanged).
    function _apply(bytes32 deviceId, uint16 score, int8 trend, uint32 epoch) private returns (bool) {
        if (score > MAX_SCORE) revert ScoreOutOfRange(score);
        if (trend < -1 || trend > 1) revert InvalidTrend(trend);
        DeviceState storage st = _deviceState(deviceId);
        DeviceState memory s = st;
        if (s.owner == address(0)) revert DeviceNotAuditable(deviceId);
        if (s.revoked) {
            emit RevokedDeviceSkipped(deviceId, epoch);
            return false;
        }
        uint16 stored = score + 1;
        if (s.scorePlusOne != 0 && (s.epoch == epoch || (s.scorePlusOne == stored && s.trend == trend))) {
            return false;
        }
        st.scorePlusOne = stored;
        st.trend = trend;
        st.epoch = epoch;
        return true;
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
