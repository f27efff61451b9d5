// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @title Device reputation: auditors write scores, paid from the registry's reward pool
 * @notice Devices sign reports about peers off chain; admitted auditors aggregate them each epoch and write
 * (deviceId, score 0-1,000, trend -1/0/+1) batches with the Merkle root of the reports they used (in the
 * `ScoresUpdated` event: the audit trail, so anyone can prove a report's inclusion and recompute a score).
 *
 * Epochs are aligned: `epoch = block.timestamp / epochLength()`. A device's score changes at most once
 * per epoch, whoever the auditor: later entries for it in the same epoch are skipped, as are entries
 * that change nothing. Only activated devices can be scored. Until its first audit a device carries its
 * manufacturer's default score (the registry's `getDevice`).
 *
 * Rewards: `auditReward()` per changed score, taken from the reward pool (registration and activation
 * fees). Each auditor holds a budget reserved from the pool, refilled in chunks of 64 rewards when it
 * runs out, so a typical batch touches no global state; what the pool cannot cover is not rewarded, so
 * the pool never pays out more than it holds, however many auditors there are. Earned rewards are
 * withdrawn by pull payment; a removed auditor's unused budget returns to the pool.
 */
interface IDeviceReputation {
    struct ScoreUpdate {
        bytes32 deviceId;
        uint16 score;
        int8 trend;
    }

    struct AuditorView {
        bool active;
        uint256 budget;
        uint256 earned;
    }

    struct Reputation {
        uint16 score;
        int8 trend;
        /// @notice The epoch of the last audit; meaningless while `audited` is false.
        uint32 epoch;
        bool audited;
    }

    event AuditorAdded(address indexed auditor);
    event AuditorRemoved(address indexed auditor, uint256 budgetReturned);
    event ScoresUpdated(
        address indexed auditor,
        uint32 indexed epoch,
        bytes32 reportsRoot,
        uint256 changed,
        uint256 rewarded
    );
    event AuditorRewardWithdrawn(address indexed auditor, uint256 amount);

    error NotAuditor(address account);
    error AuditorAlreadyActive(address account);
    error WrongEpoch(uint32 given, uint32 current);
    error InvalidTrend(int8 trend);
    error DeviceNotAuditable(bytes32 deviceId);

    /// @notice Admits an auditor. Only the admin.
    function addAuditor(address auditor) external;

    /// @notice Removes an auditor; its unused budget returns to the pool, its earned rewards stay
    /// withdrawable. Only the admin.
    function removeAuditor(address auditor) external;

    /// @notice One device's new score in `epoch` (which must be the current one).
    function updateScore(bytes32 deviceId, uint16 score, int8 trend, uint32 epoch, bytes32 reportsRoot) external;

    /// @notice A batch of new scores in `epoch` (the current one), with the root of the reports used.
    function updateScores(ScoreUpdate[] calldata updates, uint32 epoch, bytes32 reportsRoot) external;

    /// @notice Pays the caller's earned rewards.
    function withdrawAuditorReward() external returns (uint256 amount);

    function auditorInfo(address auditor) external view returns (AuditorView memory);

    function reputationOf(bytes32 deviceId) external view returns (Reputation memory);

    function currentEpoch() external view returns (uint32);

    function epochLength() external view returns (uint256);

    function auditReward() external view returns (uint256);

    /// @notice Tokens reserved for auditors (budgets and earned rewards); not part of the reward pool.
    function rewardsReserved() external view returns (uint256);
}
