// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IDeviceOwnerHook} from "./IDeviceOwnerHook.sol";
import {IThingLedgerErrors} from "./IThingLedgerErrors.sol";

/**
 * @title Device wallet: an M-of-N owner multisig where the device key spends alone under limits
 * @notice **Owners.** Up to {MAX_OWNERS} owners with a threshold M execute any call with exactly M
 * EIP-712 signatures (domain: chain id and this wallet) over `Execute(to, value, data, gasLimit, nonce)`.
 * Signatures are 64-byte compact (EIP-2098, low s), given in strictly increasing signer order, so none
 * counts twice. The owner set is kept as a 192-bit hash in the same storage word as the nonce and the
 * threshold; an execution passes the N - M owners who did not sign, and the wallet checks that signers
 * and non-signers together hash to the owner set.
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

    event Executed(uint256 indexed nonce, address indexed to, uint256 value, bool success);
    event OwnersChanged(address[] owners, uint8 threshold);
    event DeviceKeyChanged(address indexed deviceKey);
    event DeviceFrozen(bool frozen);
    event PeriodChanged(uint32 period);
    event AllowanceChanged(address indexed asset, uint72 limit);
    event TransferCapChanged(address indexed asset, uint256 cap);
    event RecipientAllowed(address indexed recipient, bool allowed);
    event AllowlistEnabled(bool enabled);
    event DeviceLinked(bytes32 indexed deviceId);
    event DeviceUnlinked(bytes32 indexed deviceId);
    event DeviceSpent(address indexed asset, address indexed to, uint256 amount);

    error AlreadyInitialized();
    error NotFactory(address caller);
    error NotSelf(address caller);
    error NotRegistry(address caller);
    error NotDevice(address caller);
    error NotOwner(address account);
    error InvalidOwners();
    error InvalidThreshold(uint256 threshold, uint256 owners);
    error TooManyOwners(uint256 owners, uint256 max);
    error InsufficientGas(uint256 available, uint256 needed);
    error ZeroPeriod();
    error DeviceIsFrozen();
    error DeviceRevoked(bytes32 deviceId);
    error DeviceNotActive(bytes32 deviceId);
    error DeviceNotOwned(bytes32 deviceId, address owner);
    /// @notice The wallet's device key is not the key the registry holds for its device (it was rotated):
    /// the owners must set the registry's key with {setDeviceKey} before the device spends again.
    error DeviceKeyMismatch(bytes32 deviceId, address walletKey, address registryKey);
    error AssetNotListed(address asset);
    error AboveLimit(address asset, uint256 amount, uint256 available);
    error AboveTransferCap(address asset, uint256 amount, uint256 cap);
    error RecipientNotAllowed(address recipient);
    error ZeroAmount();
    error NonceExhausted(address asset);
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
