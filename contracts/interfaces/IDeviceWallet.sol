// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/**
 * @title Device wallet: an M-of-N owner multisig where the device key spends alone under limits
 * @notice Owners execute any call with M EIP-712 signatures (domain: chain id and this wallet) over
 * `Execute(to, value, keccak256(data), gasLimit, nonce)`; signers are given in strictly increasing address
 * order, so a signature cannot count twice. The owner set is stored as a 192-bit hash next to the nonce
 * and threshold (one storage word), and callers pass the current owners (sorted) with each execution.
 *
 * Failed inner calls: the nonce is spent whether the inner call succeeds or fails (`Executed` says
 * which), so signatures for a failed call can never be replayed later. Because the owners sign the inner
 * call's `gasLimit`, and the wallet refuses to start unless that much gas can reach the call, a relayer
 * cannot make the call fail by sending too little gas (that reverts the whole transaction and spends
 * nothing).
 *
 * The device key is a delegate, not an owner: it moves ETH (asset `address(0)`) or a listed ERC-20 with
 * {deviceTransfer} (sent by the device) or {deviceTransferBySig} (signed by the device for a relayer, with
 * its own nonce), within a per-asset limit per period (see `SpendWindow`: no span of one period ever
 * exceeds the limit), an optional per-transfer cap and an optional recipient allow-list. It can do
 * nothing else. Device spending stops while the device is frozen (any single owner can freeze) and once
 * the registry reports the device revoked.
 */
interface IDeviceWallet {
    struct AllowanceView {
        uint80 limit;
        uint80 spentCurrentPeriod;
        uint80 spentPreviousPeriod;
        /// @notice What the device may still spend now.
        uint256 available;
    }

    struct DeviceConfig {
        address deviceKey;
        uint32 period;
        bool frozen;
        bool allowlistEnabled;
        bool capsEnabled;
        uint40 deviceNonce;
    }

    event Executed(uint256 indexed nonce, address indexed to, uint256 value, bool success);
    event OwnersChanged(address[] owners, uint8 threshold);
    event DeviceKeyChanged(address indexed deviceKey);
    event DeviceFrozen(bool frozen);
    event PeriodChanged(uint32 period);
    event AllowanceChanged(address indexed asset, uint80 limit);
    event TransferCapChanged(address indexed asset, uint256 cap);
    event RecipientAllowed(address indexed recipient, bool allowed);
    event AllowlistEnabled(bool enabled);
    event DeviceSpent(address indexed asset, address indexed to, uint256 amount);

    error AlreadyInitialized();
    error NotFactory(address caller);
    error NotSelf(address caller);
    error NotDevice(address caller);
    error NotOwner(address account);
    error WrongOwners();
    error InvalidOwners();
    error InvalidThreshold(uint256 threshold, uint256 owners);
    error TooManyOwners(uint256 owners, uint256 max);
    error WrongSignatureCount(uint256 given, uint256 threshold);
    error InvalidSignature(uint256 index);
    error SignersNotSorted(address signer);
    error InsufficientGas(uint256 available, uint256 needed);
    error ZeroPeriod();
    error ZeroAddress();
    error LengthMismatch();
    error DeviceIsFrozen();
    error DeviceRevoked(bytes32 deviceId);
    error AssetNotListed(address asset);
    error AboveLimit(address asset, uint256 amount, uint256 available);
    error AboveTransferCap(address asset, uint256 amount, uint256 cap);
    error RecipientNotAllowed(address recipient);
    error ZeroAmount();
    error SignatureExpired(uint256 deadline);
    error EthTransferFailed(address to);

    /// @notice Set once, by the factory, right after the clone is created.
    function initialize(
        address[] calldata owners,
        uint8 threshold,
        address deviceKey,
        uint32 period,
        address[] calldata assets,
        uint80[] calldata limits
    ) external;

    /**
     * @notice Executes `to.call{value, gas: gasLimit}(data)` with `threshold` owner signatures: 64-byte
     * compact (r, vs) signatures, concatenated in strictly increasing signer order. `owners` is the current
     * owner set, sorted. Returns whether the inner call succeeded; the nonce is spent either way.
     */
    function execute(
        address to,
        uint256 value,
        bytes calldata data,
        uint256 gasLimit,
        address[] calldata owners,
        bytes calldata signatures
    ) external returns (bool success);

    /// @notice The device key moves `amount` of `asset` (address(0): ETH) to `to`, within its limits.
    function deviceTransfer(address asset, address to, uint256 amount) external;

    /// @notice Anyone relays a transfer the device key signed:
    /// `DeviceTransfer(asset, to, amount, nonce, deadline)`, nonce being the device's own.
    function deviceTransferBySig(
        address asset,
        address to,
        uint256 amount,
        uint256 deadline,
        bytes32 r,
        bytes32 vs
    ) external;

    /// @notice Any single owner freezes the device key at once (unfreezing takes the owners' threshold).
    function freezeDevice(address[] calldata owners) external;

    // Owner management and device settings: only through {execute} (the wallet calling itself).
    function setOwners(address[] calldata owners, uint8 threshold) external;
    function setDeviceKey(address deviceKey) external;
    function setFrozen(bool frozen) external;
    function setPeriod(uint32 period) external;
    function setAllowance(address asset, uint80 limit) external;
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
