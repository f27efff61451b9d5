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
 * Revoked devices are never scored: an entry for one is skipped (its score stays as it was, it earns
 * nothing) and named in a `RevokedDeviceSkipped` event, rather than reverting the batch, so a batch built
 * before a revocation landed still writes its other entries.
 *
 * Rewards: `auditReward()` per changed score, taken from the reward pool (registration and activation
 * fees), bounded by what the auditor committed. Each submission commits the number of reports behind its
 * reports root (`reportCount`, in `ScoresUpdated`; anyone recomputes it from the auditor's published
 * epoch): a batch cannot change more scores than that, and in one epoch an auditor is rewarded for at
 * most `min(reportCount, its per-epoch cap)` changed scores, however many batches it sends. The cap is set
 * per auditor by the admin (`setAuditorRewardCap`, default `DEFAULT_EPOCH_REWARDS`, at most
 * `MAX_EPOCH_REWARDS`), so trend flips with a junk root earn at most the cap per epoch.
 * Each auditor holds a budget reserved from the pool, refilled in chunks of 64 rewards when it
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
        /// @notice Changed scores it can be rewarded for in one epoch.
        uint256 maxRewardsPerEpoch;
        /// @notice The last epoch it was rewarded in, and how many changed scores it was rewarded for then.
        uint32 rewardEpoch;
        uint256 rewardedInEpoch;
    }

    struct Reputation {
        uint16 score;
        int8 trend;
        /// @notice The epoch of the last audit; meaningless while `audited` is false.
        uint32 epoch;
        bool audited;
    }

    /// @notice The admin admitted an auditor.
    /// @param auditor The auditor's account.
    event AuditorAdded(address indexed auditor);
    /// @notice The admin removed an auditor.
    /// @param auditor The auditor's account.
    /// @param budgetReturned Its unused budget, returned to the reward pool.
    event AuditorRemoved(address indexed auditor, uint256 budgetReturned);
    /// @notice An auditor's per-epoch reward cap was set.
    /// @param auditor The auditor's account.
    /// @param maxRewardsPerEpoch Changed scores it can be rewarded for in one epoch.
    event AuditorRewardCapSet(address indexed auditor, uint256 maxRewardsPerEpoch);
    /// @notice One submission: the root of the reports it used and how many reports that root holds (the
    /// commitment its rewards are bounded by), how many scores it changed and how many were rewarded.
    /// @param auditor The submitting auditor.
    /// @param epoch The epoch scored.
    /// @param reportsRoot The Merkle root of the reports used.
    /// @param reportCount How many reports that root holds.
    /// @param changed How many scores the submission changed.
    /// @param rewarded How many of those were rewarded.
    event ScoresUpdated(
        address indexed auditor,
        uint32 indexed epoch,
        bytes32 reportsRoot,
        uint256 reportCount,
        uint256 changed,
        uint256 rewarded
    );
    /// @notice An entry for a revoked device was skipped: its score is unchanged and it earned nothing.
    /// @param deviceId The revoked device.
    /// @param epoch The epoch of the submission.
    event RevokedDeviceSkipped(bytes32 indexed deviceId, uint32 indexed epoch);
    /// @notice An entry of `updateScoresPacked` for a revoked device was skipped, as `RevokedDeviceSkipped`.
    /// @param ref The revoked device's reference (`manufacturerId << 64 | low 64 bits of its id`).
    /// @param epoch The epoch of the submission.
    event RevokedRefSkipped(uint96 indexed ref, uint32 indexed epoch);
    /// @notice An auditor withdrew its earned rewards.
    /// @param auditor The auditor's account.
    /// @param amount The tokens paid, in base units.
    event AuditorRewardWithdrawn(address indexed auditor, uint256 amount);

    /// @notice `account` is not an active auditor.
    /// @param account The caller or the account named.
    error NotAuditor(address account);
    /// @notice `account` is already an active auditor.
    /// @param account The account named.
    error AuditorAlreadyActive(address account);
    /// @notice Scores are written only for the current epoch.
    /// @param given The epoch submitted.
    /// @param current The current epoch.
    error WrongEpoch(uint32 given, uint32 current);
    /// @notice A trend other than -1, 0 or +1.
    /// @param trend The trend given.
    error InvalidTrend(int8 trend);
    /// @notice A batch entry's score or trend word is no ABI encoding of a uint16 or an int8.
    /// @param deviceId The entry's device.
    /// @param word The word given.
    error MalformedScoreUpdate(bytes32 deviceId, uint256 word);
    /// @notice No device was ever activated under this id's reference, so it cannot be scored.
    /// @param deviceId The device.
    error DeviceNotAuditable(bytes32 deviceId);
    /// @notice No device was ever activated under this reference, so it cannot be scored.
    /// @param ref The reference given.
    error RefNotAuditable(uint96 ref);
    /// @notice Packed score entries whose length is not a positive multiple of 15 bytes.
    /// @param length The length given, in bytes.
    error MalformedPackedScores(uint256 length);
    /// @notice A submission changed more scores than the reports it committed: each score needs a report.
    /// @param changed The scores it changed.
    /// @param reportCount The reports it committed.
    error ChangesExceedReports(uint256 changed, uint256 reportCount);
    /// @notice A per-epoch reward cap above `MAX_EPOCH_REWARDS`.
    /// @param maxRewardsPerEpoch The cap given.
    /// @param limit The most allowed.
    error RewardCapAboveLimit(uint256 maxRewardsPerEpoch, uint256 limit);

    /// @notice Admits an auditor, with a per-epoch reward cap of `DEFAULT_EPOCH_REWARDS`. Only the admin.
    function addAuditor(address auditor) external;

    /// @notice Removes an auditor; its unused budget returns to the pool, its earned rewards stay
    /// withdrawable. Only the admin.
    function removeAuditor(address auditor) external;

    /// @notice Sets how many changed scores an active auditor can be rewarded for per epoch, at most
    /// `MAX_EPOCH_REWARDS` (0: it scores unpaid). Takes effect at once, also for the current epoch. Only
    /// the admin.
    function setAuditorRewardCap(address auditor, uint256 maxRewardsPerEpoch) external;

    /// @notice One device's new score in `epoch` (which must be the current one). The score is written to
    /// the word of the id's device reference (`manufacturerId << 64 | low 64 bits of the id`), which belongs to
    /// the first device activated under it: an id that shares the reference of an activated device scores
    /// that device, as its own id would. Only a manufacturer can make two ids share a reference, in its own
    /// namespace, and only one of them can ever be activated (`DeviceRefTaken`).
    /// @param reportsRoot The Merkle root of the reports the auditor scored this epoch from.
    /// @param reportCount How many reports that root holds (see `updateScores`).
    function updateScore(
        bytes32 deviceId,
        uint16 score,
        int8 trend,
        uint32 epoch,
        bytes32 reportsRoot,
        uint32 reportCount
    ) external;

    /// @notice A batch of new scores in `epoch` (the current one), with the root of the reports used and
    /// the number of reports under it (an auditor's batches of one epoch should all carry the same root and
    /// count, as the off-chain auditor's do; the events make any difference public). A batch that changes
    /// more scores than `reportCount` reverts; the epoch's rewards are bounded by `reportCount` and the
    /// auditor's cap. Entries for revoked devices are skipped.
    function updateScores(
        ScoreUpdate[] calldata updates,
        uint32 epoch,
        bytes32 reportsRoot,
        uint32 reportCount
    ) external;

    /// @notice `updateScores` with each entry packed in 15 bytes: the device's 96-bit reference
    /// (`manufacturerId << 64 | low 64 bits of its id`, 12 bytes), its score (2 bytes) and its trend (1 byte,
    /// two's complement), all big-endian, entries back to back. A third of the calldata of `updateScores`,
    /// and far less once compressed on an L2. A reference names the word of the first device activated under
    /// it (the registry activates no second one). Same rules, rewards and `ScoresUpdated` event; a skipped
    /// revoked device is named by its reference (`RevokedRefSkipped`); a reference no activated device has
    /// reverts `RefNotAuditable`; a length that is zero or not a multiple of 15 reverts `MalformedPackedScores`.
    function updateScoresPacked(bytes calldata entries, uint32 epoch, bytes32 reportsRoot, uint32 reportCount) external;

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
