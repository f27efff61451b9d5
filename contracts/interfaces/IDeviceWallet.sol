// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IDeviceOwnerHook} from "./IDeviceOwnerHook.sol";
import {IThingLedgerErrors} from "./IThingLedgerErrors.sol";

/**
 * @title Device wallet: an M-of-N owner multisig where the device key spends alone under limits
 * @notice **Owners.** Up to {MAX_OWNERS} owners with a threshold M execute any call with exactly M
 * EIP-712 signatures (domain: chain id and this wallet) over `Execute(to, value, data, gasLimit, nonce)`.
 * Signatures are 64-byte compact (EIP-2098, low s), given in strictly increasing signer order, so none
 * counts twice. An execution also passes the N - M owners who did not sign, and the wallet checks that
 * signers and non-signers together make up the owner set. Approval errors are {OwnerSet}'s.
 *
 * **Failed inner calls.** The nonce is spent whether the inner call succeeds or fails (`Executed` says
 * which), so signatures for a failed call can never be replayed later. The owners sign the inner call's
 * `gasLimit`, and the wallet refuses to start unless the call gets all of it: `gasLimit + gasLimit / 63`
 * (EIP-150 keeps back 1/64) plus the most the CALL itself can charge (a cold account and an EIP-7702
 * delegate, a value transfer that may create the account) plus 10,000 for the work after it, measured once
 * the call's data is in memory. So a relayer cannot make the call fail by sending too little gas: that
 * reverts the whole transaction and spends nothing. As a backstop, a failed call that leaves the wallet
 * at most `gasLimit / 63` (the sign of a starved callee) also reverts everything. The call's return data
 * is never copied, so a callee returning or reverting with megabytes of it cannot make an execution
 * impossible to run.
 *
 * **The device key** is a delegate, not an owner: it moves ETH (asset `address(0)`) or a listed ERC-20
 * with {deviceTransfer} (sent by the device) or {deviceTransferBySig} (signed by the device for a relayer,
 * with a per-asset nonce), within a per-asset limit per period (a sliding window, see `SpendWindow`: no
 * span of one period ever exceeds the limit), an optional per-transfer cap and an optional recipient
 * allow-list. It can do nothing else.
 *
 * **Registry link.** The wallet names its device (the clone's immutable device id) and must own that
 * device in the registry. The first device spend (or {link}) checks once that the device is active, owned
 * by this wallet, and that the wallet's device key is the key the registry holds for it; from then on the
 * registry tells the wallet of a revocation, a transfer or a key rotation in the same transaction
 * ({IDeviceOwnerHook}), which unlinks it, and the next spend asks the registry again and is refused. So
 * device spending stops as soon as the registry revokes the device or rotates its key (a stolen old key
 * spends nothing more), without a registry call on every spend. After a rotation the owners set the new
 * key with {setDeviceKey} (which also unlinks, so the next spend checks it) and the device spends again.
 * Any single owner can also freeze the device key at once.
 */
interface IDeviceWallet is IDeviceOwnerHook, IThingLedgerErrors {
    struct AllowanceView {
        uint256 limit;
        uint256 spentCurrentPeriod;
        uint256 spentPreviousPeriod;
        /// @notice What the device may still spend now.
        uint256 available;
        /// @notice The nonce the device's next relayed transfer of this asset must sign.
        uint256 nonce;
    }

    struct DeviceConfig {
        address deviceKey;
        uint32 period;
        bool frozen;
        bool allowlistEnabled;
        bool capsEnabled;
        /// @notice True once the wallet has checked the registry (see the registry link above).
        bool linked;
    }

    /// @notice The owners executed a call (it may have failed: the nonce is spent either way).
    /// @param nonce The nonce the owners signed.
    /// @param to The call's target.
    /// @param value The ETH sent with it, in wei.
    /// @param success Whether the inner call succeeded.
    event Executed(uint256 indexed nonce, address indexed to, uint256 value, bool success);
    /// @notice The owner set or the threshold changed.
    /// @param owners The new owners, increasing.
    /// @param threshold The new threshold.
    event OwnersChanged(address[] owners, uint8 threshold);
    /// @notice The owners set a new device key (the wallet is unlinked until it checks the registry again).
    /// @param deviceKey The new key.
    event DeviceKeyChanged(address indexed deviceKey);
    /// @notice The device key was frozen or unfrozen.
    /// @param frozen True when frozen.
    event DeviceFrozen(bool frozen);
    /// @notice The spending period changed.
    /// @param period The new period, in seconds.
    event PeriodChanged(uint32 period);
    /// @notice An asset's per-period limit changed (0: the device may no longer spend it).
    /// @param asset The asset (zero: ETH).
    /// @param limit The new limit, in base units per period.
    event AllowanceChanged(address indexed asset, uint72 limit);
    /// @notice An asset's per-transfer cap changed (0: no cap).
    /// @param asset The asset (zero: ETH).
    /// @param cap The new cap, in base units.
    event TransferCapChanged(address indexed asset, uint256 cap);
    /// @notice A recipient was added to or removed from the allow-list.
    /// @param recipient The recipient.
    /// @param allowed True when added.
    event RecipientAllowed(address indexed recipient, bool allowed);
    /// @notice The recipient allow-list was switched on or off.
    /// @param enabled True when on.
    event AllowlistEnabled(bool enabled);
    /// @notice The wallet checked the registry: it owns its active device and holds its current key.
    /// @param deviceId The wallet's device.
    event DeviceLinked(bytes32 indexed deviceId);
    /// @notice The registry reported a revocation, a transfer or a key rotation: the next spend checks again.
    /// @param deviceId The wallet's device.
    event DeviceUnlinked(bytes32 indexed deviceId);
    /// @notice The device spent within its limits.
    /// @param asset The asset (zero: ETH).
    /// @param to The recipient.
    /// @param amount The amount, in base units.
    event DeviceSpent(address indexed asset, address indexed to, uint256 amount);

    /// @notice The wallet is already initialised (or is the locked implementation).
    error AlreadyInitialized();
    /// @notice Only the factory initialises a wallet.
    /// @param caller The caller.
    error NotFactory(address caller);
    /// @notice Only the wallet itself (an owners' {execute}) may call this.
    /// @param caller The caller.
    error NotSelf(address caller);
    /// @notice Only the registry calls the owner hook.
    /// @param caller The caller.
    error NotRegistry(address caller);
    /// @notice Only the device key may spend directly.
    /// @param caller The caller.
    error NotDevice(address caller);
    /// @notice The caller is not one of the owners given.
    /// @param account The caller.
    error NotOwner(address account);
    /// @notice An owner list is not strictly increasing (a duplicate, or the zero address).
    error InvalidOwners();
    /// @notice The threshold is zero or above the owner count.
    /// @param threshold The threshold given.
    /// @param owners The owner count.
    error InvalidThreshold(uint256 threshold, uint256 owners);
    /// @notice More owners than {MAX_OWNERS}.
    /// @param owners The owner count given.
    /// @param max The most allowed.
    error TooManyOwners(uint256 owners, uint256 max);
    /// @notice The transaction has too little gas to give the inner call its signed `gasLimit`.
    /// @param available The gas left when measured.
    /// @param needed The gas the call needs.
    error InsufficientGas(uint256 available, uint256 needed);
    /// @notice The spending period is zero.
    error ZeroPeriod();
    /// @notice The device key is frozen.
    error DeviceIsFrozen();
    /// @notice The registry revoked the wallet's device.
    /// @param deviceId The device.
    error DeviceRevoked(bytes32 deviceId);
    /// @notice The wallet's device is not active in the registry.
    /// @param deviceId The device.
    error DeviceNotActive(bytes32 deviceId);
    /// @notice The wallet does not own its device in the registry.
    /// @param deviceId The device.
    /// @param owner Its owner in the registry.
    error DeviceNotOwned(bytes32 deviceId, address owner);
    /// @notice The wallet's device key is not the key the registry holds for its device (it was rotated):
    /// the owners must set the registry's key with {setDeviceKey} before the device spends again.
    /// @param deviceId The device.
    /// @param walletKey The key the wallet holds.
    /// @param registryKey The key the registry holds.
    error DeviceKeyMismatch(bytes32 deviceId, address walletKey, address registryKey);
    /// @notice The asset has no limit: the device may not spend it.
    /// @param asset The asset (zero: ETH).
    error AssetNotListed(address asset);
    /// @notice The spend would exceed the asset's limit over the sliding period.
    /// @param asset The asset (zero: ETH).
    /// @param amount The amount asked.
    /// @param available What may still be spent now.
    error AboveLimit(address asset, uint256 amount, uint256 available);
    /// @notice The spend is above the asset's per-transfer cap.
    /// @param asset The asset (zero: ETH).
    /// @param amount The amount asked.
    /// @param cap The cap.
    error AboveTransferCap(address asset, uint256 amount, uint256 cap);
    /// @notice The allow-list is on and does not hold the recipient.
    /// @param recipient The recipient.
    error RecipientNotAllowed(address recipient);
    /// @notice A spend of zero.
    error ZeroAmount();
    /// @notice The asset's relay nonce reached its maximum: relayed spends of it are over.
    /// @param asset The asset (zero: ETH).
    error NonceExhausted(address asset);
    /// @notice Sending ETH to the recipient failed.
    /// @param to The recipient.
    error EthTransferFailed(address to);

    /// @notice Set once, by the factory, right after the clone is created (the factory's `WalletCreated`
    /// event records the configuration).
    function initialize(
        address[] calldata owners,
        uint8 threshold,
        address deviceKey,
        uint32 period,
        address[] calldata assets,
        uint72[] calldata limits
    ) external;

    /**
     * @notice Executes `to.call{value, gas: gasLimit}(data)` with the owners' approval. `auth` is the
     * threshold's compact (r, vs) signatures, 64 bytes each, in strictly increasing signer order, followed
     * by the owners who did not sign, 20 bytes each, in increasing order. Returns whether the inner call
     * succeeded; the nonce is spent either way. Reverts with {InsufficientGas} (spending nothing) when the
     * call could not get its whole `gasLimit`; the inner call's return data is discarded without a copy.
     */
    function execute(
        address to,
        uint256 value,
        bytes calldata data,
        uint256 gasLimit,
        bytes calldata auth
    ) external returns (bool success);

    /// @notice The device key moves `amount` of `asset` (address(0): ETH) to `to`, within its limits.
    function deviceTransfer(address asset, address to, uint256 amount) external;

    /// @notice Anyone relays a transfer the device key signed:
    /// `DeviceTransfer(asset, to, amount, nonce, deadline)`, nonce being the asset's relay nonce.
    function deviceTransferBySig(
        address asset,
        address to,
        uint256 amount,
        uint256 deadline,
        bytes32 r,
        bytes32 vs
    ) external;

    /// @notice Any single owner freezes the device key at once (unfreezing takes the owners' threshold).
    /// `owners` is the whole owner set, sorted.
    function freezeDevice(address[] calldata owners) external;

    /// @notice Checks with the registry that the device is active and owned by this wallet, so that
    /// device spends need not. Anyone may call it; the first device spend does it too.
    function link() external;

    // Owner management and device settings: only through {execute} (the wallet calling itself).
    function setOwners(address[] calldata owners, uint8 threshold) external;
    /// @notice Sets the device key and unlinks the wallet: the next device spend links again, which needs
    /// the key to be the one the registry holds for the device (see {DeviceKeyMismatch}).
    function setDeviceKey(address deviceKey) external;
    function setFrozen(bool frozen) external;
    function setPeriod(uint32 period) external;
    function setAllowance(address asset, uint72 limit) external;
    function setTransferCap(address asset, uint256 cap) external;
    function setRecipientAllowed(address recipient, bool allowed) external;
    function setAllowlistEnabled(bool enabled) external;

    function deviceId() external view returns (bytes32);
    function registry() external view returns (address);
    function nonce() external view returns (uint256);
    function threshold() external view returns (uint8);
    function ownerCount() external view returns (uint8);
    function isOwnerSet(address[] calldata owners) external view returns (bool);
    function deviceConfig() external view returns (DeviceConfig memory);
    function allowance(address asset) external view returns (AllowanceView memory);
    function transferCap(address asset) external view returns (uint256);
    function isRecipientAllowed(address recipient) external view returns (bool);
    function executeDigest(
        address to,
        uint256 value,
        bytes calldata data,
        uint256 gasLimit,
        uint256 nonce
    ) external view returns (bytes32);
    function deviceTransferDigest(
        address asset,
        address to,
        uint256 amount,
        uint256 nonce,
        uint256 deadline
    ) external view returns (bytes32);
}
