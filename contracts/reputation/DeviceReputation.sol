// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IDeviceReputation} from "../interfaces/IDeviceReputation.sol";
import {RegistryFees} from "../registry/RegistryFees.sol";

/**
 * @title Device reputation, part of the device registry
 * @notice See {IDeviceReputation}. A device's score shares the storage word of its owner (written at
 * activation), so a first score costs no more than a later one and the "is it activated" check is the
 * same read.
 */
abstract contract DeviceReputation is IDeviceReputation, RegistryFees {
    using SafeERC20 for IERC20;

    /// @dev A budget refill reserves this many rewards ahead, so most batches touch no global state.
    uint256 private constant _REFILL_REWARDS = 64;

    /// @dev Slot 2 of a device: the owner, written at activation, and its reputation.
    /// `scorePlusOne` is 0 until the first audit, so a score of 0 is distinguishable from "not audited".
    struct DeviceState {
        address owner;
        uint16 scorePlusOne;
        int8 trend;
        uint32 epoch;
    }

    /// @dev One slot per auditor. Both amounts are backed by `_reserved`.
    struct Auditor {
        bool active;
        uint96 budget;
        uint96 earned;
    }

    uint256 private immutable _epochLength;
    uint256 private immutable _auditReward;

    mapping(bytes32 deviceId => DeviceState) internal _states;
    mapping(address account => Auditor) private _auditors;
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
        Auditor storage a = _auditors[auditor];
        if (a.active) revert AuditorAlreadyActive(auditor);
        a.active = true;
        emit AuditorAdded(auditor);
    }

    /// @inheritdoc IDeviceReputation
    function removeAuditor(address auditor) external onlyOwner {
        Auditor storage a = _auditors[auditor];
        if (!a.active) revert NotAuditor(auditor);
        uint256 budget = a.budget;
        a.active = false;
        a.budget = 0;
        _reserved -= budget;
        emit AuditorRemoved(auditor, budget);
    }

    /// @inheritdoc IDeviceReputation
    function updateScore(bytes32 deviceId, uint16 score, int8 trend, uint32 epoch, bytes32 reportsRoot) external {
        address auditor = _msgSender();
        Auditor memory a = _activeAuditor(auditor, epoch);
        uint256 changed = _apply(deviceId, score, trend, epoch) ? 1 : 0;
        _reward(auditor, a, changed, epoch, reportsRoot);
    }

    /// @inheritdoc IDeviceReputation
    function updateScores(ScoreUpdate[] calldata updates, uint32 epoch, bytes32 reportsRoot) external {
        if (updates.length == 0) revert EmptyBatch();
        address auditor = _msgSender();
        Auditor memory a = _activeAuditor(auditor, epoch);
        uint256 changed;
        for (uint256 i; i < updates.length; ++i) {
            ScoreUpdate calldata u = updates[i];
            // Cannot overflow: at most updates.length.
            unchecked {
                if (_apply(u.deviceId, u.score, u.trend, epoch)) ++changed;
            }
        }
        _reward(auditor, a, changed, epoch, reportsRoot);
    }

    /// @inheritdoc IDeviceReputation
    function withdrawAuditorReward() external returns (uint256 amount) {
        address auditor = _msgSender();
        Auditor storage a = _auditors[auditor];
        amount = a.earned;
        if (amount == 0) revert NothingToWithdraw(auditor);
        a.earned = 0;
        _reserved -= amount;
        _token.safeTransfer(auditor, amount);
        emit AuditorRewardWithdrawn(auditor, amount);
    }

    /// @inheritdoc IDeviceReputation
    function auditorInfo(address auditor) external view returns (AuditorView memory) {
        Auditor memory a = _auditors[auditor];
        return AuditorView(a.active, a.budget, a.earned);
    }

    /// @inheritdoc IDeviceReputation
    function reputationOf(bytes32 deviceId) public view returns (Reputation memory r) {
        DeviceState memory st = _states[deviceId];
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

    function _activeAuditor(address auditor, uint32 epoch) private view returns (Auditor memory a) {
        a = _auditors[auditor];
        if (!a.active) revert NotAuditor(auditor);
        uint32 current = currentEpoch();
        if (epoch != current) revert WrongEpoch(epoch, current);
    }

    /// @dev Writes one score; false when the entry is skipped (already changed this epoch, or unchanged).
    function _apply(bytes32 deviceId, uint16 score, int8 trend, uint32 epoch) private returns (bool) {
        if (score > MAX_SCORE) revert ScoreOutOfRange(score);
        if (trend < -1 || trend > 1) revert InvalidTrend(trend);
        DeviceState storage st = _states[deviceId];
        DeviceState memory s = st;
        if (s.owner == address(0)) revert DeviceNotAuditable(deviceId);
        uint16 stored = score + 1;
        if (s.scorePlusOne != 0 && (s.epoch == epoch || (s.scorePlusOne == stored && s.trend == trend))) {
            return false;
        }
        st.scorePlusOne = stored;
        st.trend = trend;
        st.epoch = epoch;
        return true;
    }

    /// @dev Pays `changed` rewards from the auditor's budget, refilling it from the pool when short.
    function _reward(address auditor, Auditor memory a, uint256 changed, uint32 epoch, bytes32 root) private {
        uint256 rewarded;
        if (changed != 0 && _auditReward != 0) {
            uint256 needed = changed * _auditReward;
            if (a.budget < needed) {
                // What this batch lacks plus a chunk ahead, so the next batches need no refill.
                uint256 want = needed - a.budget + _REFILL_REWARDS * _auditReward;
                uint256 available = rewardPool();
                uint256 grant = want < available ? want : available;
                _reserved += grant;
                a.budget += uint96(grant);
            }
            rewarded = a.budget / _auditReward;
            if (rewarded > changed) rewarded = changed;
            uint256 paid = rewarded * _auditReward;
            // Cannot underflow: paid <= budget by construction; earned stays below the token's supply.
            unchecked {
                a.budget -= uint96(paid);
                a.earned += uint96(paid);
            }
            _auditors[auditor] = a;
        }
        emit ScoresUpdated(auditor, epoch, root, changed, rewarded);
    }
}
