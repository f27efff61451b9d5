// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {IDeviceOwnerHook} from "../interfaces/IDeviceOwnerHook.sol";
import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {IDeviceWallet} from "../interfaces/IDeviceWallet.sol";
import {CompactSignature} from "../libraries/CompactSignature.sol";
import {OwnerSet} from "../libraries/OwnerSet.sol";
import {OWNER_STATE_LOCKED, OwnerState, OwnerStateLibrary} from "../libraries/OwnerState.sol";
import {SpendWindow, SpendWindowLibrary} from "../libraries/SpendWindow.sol";

/// @title Device wallet (the implementation behind every clone)
/// @notice See {IDeviceWallet}. Clones carry their device id as an immutable argument; the registry and
/// the factory are immutables of this implementation. The implementation itself is locked at
/// construction: it can never be initialised, and it has no delegatecall or selfdestruct.
/// @dev The owner set is kept as a 192-bit hash in the same storage word as the nonce, the count and the
/// threshold ({OwnerState}); each asset's limit, spending and relay nonce share one word ({SpendWindow}).
contract DeviceWallet is IDeviceWallet, EIP712 {
    using SafeERC20 for IERC20;

    /// @notice The largest owner set (bounds the owner loops and fits the 8-bit count).
    uint256 public constant MAX_OWNERS = 20;

    bytes32 private constant _EXECUTE_TYPEHASH = keccak256(
        "Execute(address to,uint256 value,bytes data,uint256 gasLimit,uint256 nonce)"
    );
    bytes32 private constant _DEVICE_TRANSFER_TYPEHASH = keccak256(
        "DeviceTransfer(address asset,address to,uint256 amount,uint256 nonce,uint256 deadline)"
    );
    /// @dev Gas kept back for the work after the inner call (the nonce is already stored; an event remains).
    uint256 private constant _CALL_RESERVE = 10_000;
    /// @dev The most a CALL charges before EIP-150 splits what is left, apart from a value transfer: a cold
    /// account (2,600) and, for an EIP-7702 delegated account, its cold delegate (2,600); plus 100 for the
    /// opcodes between the gas check and the call. The call's data is already in memory, its output is not
    /// copied, so no memory expansion is left to pay.
    uint256 private constant _CALL_ACCESS_GAS = 5_300;
    /// @dev What a value transfer adds to the CALL: 9,000, and 25,000 if it creates the account. (The 2,300
    /// stipend is part of the 9,000 and goes to the callee on top of `gasLimit`.)
    uint256 private constant _CALL_VALUE_GAS = 34_000;

    uint256 private constant _PERIOD_SHIFT = 160;
    uint256 private constant _FROZEN = 1 << 192;
    uint256 private constant _ALLOWLIST = 1 << 200;
    uint256 private constant _CAPS = 1 << 208;
    uint256 private constant _LINKED = 1 << 216;

    IDeviceRegistry private immutable _registry;
    address private immutable _factory;

    /// @dev Owner count, threshold, nonce and owner-set hash (see {OwnerState}).
    OwnerState private _ownerState;
    /// @dev deviceKey (160) | period (32) | frozen (bit 192) | allow-list on (200) | caps on (208) | linked (216).
    uint256 private _device;
    /// @dev One `SpendWindow` word per asset: limit, spending, relay nonce.
    mapping(address asset => SpendWindow word) private _allowances;
    mapping(address asset => uint256 cap) private _caps;
    mapping(address recipient => bool allowed) private _allowedRecipients;

    modifier onlySelf() {
        if (msg.sender != address(this)) revert NotSelf(msg.sender);
        _;
    }

    constructor(IDeviceRegistry registry_) EIP712("ThingLedger DeviceWallet", "1") {
        _registry = registry_;
        _factory = msg.sender;
        _ownerState = OWNER_STATE_LOCKED;
    }

    receive() external payable {}

    /// @notice Accepts ERC-827 "and call" transfers (the token calls with the sender's data) and ETH with
    /// data. Nothing here acts on that data.
    fallback() external payable {}

    /// @inheritdoc IDeviceWallet
    function initialize(
        address[] calldata owners,
        uint8 threshold_,
        address deviceKey,
        uint32 period,
        address[] calldata assets,
        uint72[] calldata limits
    ) external {
        if (!_ownerState.isEmpty()) revert AlreadyInitialized();
        if (msg.sender != _factory) revert NotFactory(msg.sender);
        if (assets.length != limits.length) revert LengthMismatch();
        if (deviceKey == address(0)) revert ZeroAddress();
        if (period == 0) revert ZeroPeriod();
        _ownerState = _ownerWord(owners, threshold_, 0);
        _device = uint160(deviceKey) | (uint256(period) << _PERIOD_SHIFT);
        for (uint256 i; i < assets.length; ++i) _allowances[assets[i]] = SpendWindowLibrary.fromLimit(limits[i]);
    }

    // ---------------------------------------------------------------- owners

    /// @inheritdoc IDeviceWallet
    function execute(
        address to,
        uint256 value,
        bytes calldata data,
        uint256 gasLimit,
        bytes calldata auth
    ) external returns (bool success) {
        OwnerState state = _ownerState;
        uint256 nonce_ = state.nonce();
        OwnerSet.checkApproval(executeDigest(to, value, data, gasLimit, nonce_), state, auth);
        _ownerState = state.withNextNonce();
        // The owners signed gasLimit: refuse to start unless the call really gets it. With A gas left once
        // the CALL has charged its own costs, the callee gets min(gasLimit, A - A / 64) (EIP-150), and
        // A >= gasLimit + gasLimit / 63 + 1 makes that gasLimit. `needed` adds every cost the CALL can charge.
        uint256 needed = _CALL_RESERVE + _CALL_ACCESS_GAS;
        if (value != 0) needed += _CALL_VALUE_GAS;
        // Cannot overflow: gasLimit / 63 + 49,300 is far below 2^256; only the addition of gasLimit could.
        unchecked {
            needed += gasLimit / 63;
        }
        needed += gasLimit;
        uint256 left;
        // The data is copied to free memory (its expansion paid) before gas is measured; the return data is
        // never copied, so a callee cannot make the wallet pay for megabytes of it (a return bomb).
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, data.offset, data.length)
            left := gas()
            if iszero(lt(left, needed)) {
                success := call(gasLimit, to, value, ptr, data.length, 0, 0)
                // Backstop for a cost `needed` does not foresee (a future repricing): a callee that was
                // starved and ran out of gas leaves the wallet at most A / 64 < gasLimit / 63. Reporting that
                // as `left` reverts the whole transaction, so the nonce is not spent. With `needed` as above
                // a failed call always leaves more than gasLimit / 63 + 9,000, so this never refuses a call
                // that had its whole gasLimit (it cannot fire under today's gas schedule).
                if iszero(success) {
                    let remaining := gas()
                    if iszero(gt(remaining, div(gasLimit, 63))) {
                        left := remaining
                    }
                }
            }
        }
        if (left < needed) revert InsufficientGas(left, needed);
        emit Executed(nonce_, to, value, success);
    }

    /// @inheritdoc IDeviceWallet
    function freezeDevice(address[] calldata owners) external {
        OwnerSet.requireSet(_ownerState, owners);
        bool found;
        for (uint256 i; i < owners.length; ++i) if (owners[i] == msg.sender) found = true;
        if (!found) revert NotOwner(msg.sender);
        _setFrozen(true);
    }

    /// @inheritdoc IDeviceWallet
    function setOwners(address[] calldata owners, uint8 threshold_) external onlySelf {
        _ownerState = _ownerWord(owners, threshold_, _ownerState.nonce());
        emit OwnersChanged(owners, threshold_);
    }

    /// @inheritdoc IDeviceWallet
    function setDeviceKey(address deviceKey) external onlySelf {
        if (deviceKey == address(0)) revert ZeroAddress();
        // Unlinked: the next device spend checks the new key against the registry's.
        _device = (_device & ~(uint256(type(uint160).max) | _LINKED)) | uint160(deviceKey);
        emit DeviceKeyChanged(deviceKey);
    }

    /// @inheritdoc IDeviceWallet
    function setFrozen(bool frozen) external onlySelf {
        _setFrozen(frozen);
    }

    /// @inheritdoc IDeviceWallet
    function setPeriod(uint32 period) external onlySelf {
        if (period == 0) revert ZeroPeriod();
        _device = (_device & ~(uint256(type(uint32).max) << _PERIOD_SHIFT)) | (uint256(period) << _PERIOD_SHIFT);
        emit PeriodChanged(period);
    }

    /// @inheritdoc IDeviceWallet
    function setAllowance(address asset, uint72 limit) external onlySelf {
        _allowances[asset] = _allowances[asset].withLimit(limit);
        emit AllowanceChanged(asset, limit);
    }

    /// @inheritdoc IDeviceWallet
    function setTransferCap(address asset, uint256 cap) external onlySelf {
        _caps[asset] = cap;
        if (cap != 0) _device |= _CAPS;
        emit TransferCapChanged(asset, cap);
    }

    /// @inheritdoc IDeviceWallet
    function setRecipientAllowed(address recipient, bool allowed) external onlySelf {
        _allowedRecipients[recipient] = allowed;
        emit RecipientAllowed(recipient, allowed);
    }

    /// @inheritdoc IDeviceWallet
    function setAllowlistEnabled(bool enabled) external onlySelf {
        _device = enabled ? _device | _ALLOWLIST : _device & ~_ALLOWLIST;
        emit AllowlistEnabled(enabled);
    }

    // ---------------------------------------------------------------- device

    /// @inheritdoc IDeviceWallet
    function deviceTransfer(address asset, address to, uint256 amount) external {
        uint256 device = _device;
        if (msg.sender != address(uint160(device))) revert NotDevice(msg.sender);
        _deviceSpend(device, asset, to, amount, _allowances[asset], false);
    }

    /// @inheritdoc IDeviceWallet
    function deviceTransferBySig(
        address asset,
        address to,
        uint256 amount,
        uint256 deadline,
        bytes32 r,
        bytes32 vs
    ) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        uint256 device = _device;
        SpendWindow word = _allowances[asset];
        address signer = CompactSignature.recover(
            deviceTransferDigest(asset, to, amount, word.nonce(), deadline),
            r,
            vs
        );
        // The device's one signature is reported like an owner approval's first (index 0).
        if (signer == address(0) || signer != address(uint160(device))) revert OwnerSet.InvalidSignature(0);
        _deviceSpend(device, asset, to, amount, word, true);
    }

    /// @inheritdoc IDeviceWallet
    function link() external {
        uint256 device = _device;
        if (device & _LINKED == 0) _link(device);
    }

    /// @inheritdoc IDeviceOwnerHook
    function onDeviceRecordChanged(bytes32 id) external {
        if (msg.sender != address(_registry)) revert NotRegistry(msg.sender);
        uint256 device = _device;
        if (device & _LINKED != 0 && id == deviceId()) {
            _device = device & ~_LINKED;
            emit DeviceUnlinked(id);
        }
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IDeviceWallet
    function deviceId() public view returns (bytes32) {
        return abi.decode(Clones.fetchCloneArgs(address(this)), (bytes32));
    }

    /// @inheritdoc IDeviceWallet
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IDeviceWallet
    function nonce() external view returns (uint256) {
        return _ownerState.nonce();
    }

    /// @inheritdoc IDeviceWallet
    function threshold() external view returns (uint8) {
        return _ownerState.threshold();
    }

    /// @inheritdoc IDeviceWallet
    function ownerCount() external view returns (uint8) {
        return _ownerState.count();
    }

    /// @inheritdoc IDeviceWallet
    function isOwnerSet(address[] calldata owners) external view returns (bool) {
        return OwnerSet.isSet(_ownerState, owners);
    }

    /// @inheritdoc IDeviceWallet
    function deviceConfig() external view returns (DeviceConfig memory) {
        uint256 d = _device;
        return
            DeviceConfig({
                deviceKey: address(uint160(d)),
                period: uint32(d >> _PERIOD_SHIFT),
                frozen: d & _FROZEN != 0,
                allowlistEnabled: d & _ALLOWLIST != 0,
                capsEnabled: d & _CAPS != 0,
                linked: d & _LINKED != 0
            });
    }

    /// @inheritdoc IDeviceWallet
    function allowance(address asset) external view returns (AllowanceView memory view_) {
        SpendWindow word = _allowances[asset];
        uint256 index = _periodIndex(_device);
        (uint256 current, uint256 previous) = word.spentAt(index);
        view_ = AllowanceView({
            limit: word.limit(),
            spentCurrentPeriod: current,
            spentPreviousPeriod: previous,
            available: word.available(index),
            nonce: word.nonce()
        });
    }

    /// @inheritdoc IDeviceWallet
    function transferCap(address asset) external view returns (uint256) {
        return _caps[asset];
    }

    /// @inheritdoc IDeviceWallet
    function isRecipientAllowed(address recipient) external view returns (bool) {
        return _allowedRecipients[recipient];
    }

    /// @inheritdoc IDeviceWallet
    function executeDigest(
        address to,
        uint256 value,
        bytes calldata data,
        uint256 gasLimit,
        uint256 nonce_
    ) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_EXECUTE_TYPEHASH, to, value, keccak256(data), gasLimit, nonce_)));
    }

    /// @inheritdoc IDeviceWallet
    function deviceTransferDigest(
        address asset,
        address to,
        uint256 amount,
        uint256 nonce_,
        uint256 deadline
    ) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_DEVICE_TRANSFER_TYPEHASH, asset, to, amount, nonce_, deadline)));
    }

    // ---------------------------------------------------------------- internal

    function _deviceSpend(
        uint256 device,
        address asset,
        address to,
        uint256 amount,
        SpendWindow word,
        bool relayed
    ) private {
        if (device & _FROZEN != 0) revert DeviceIsFrozen();
        if (device & _LINKED == 0) _link(device);
        if (amount == 0) revert ZeroAmount();
        if (device & _ALLOWLIST != 0 && !_allowedRecipients[to]) revert RecipientNotAllowed(to);
        if (device & _CAPS != 0) {
            uint256 cap = _caps[asset];
            if (cap != 0 && amount > cap) revert AboveTransferCap(asset, amount, cap);
        }
        if (word.limit() == 0) revert AssetNotListed(asset);
        uint256 index = _periodIndex(device);
        (bool ok, SpendWindow updated) = word.spend(amount, index);
        if (!ok) revert AboveLimit(asset, amount, word.available(index));
        if (relayed) {
            if (word.nonce() == type(uint32).max) revert NonceExhausted(asset);
            updated = updated.withNextNonce();
        }
        _allowances[asset] = updated;
        emit DeviceSpent(asset, to, amount);
        if (asset == address(0)) {
            bool sent;
            // The return data is never copied, so a recipient cannot make the device or its relayer pay for
            // megabytes of it (a return bomb).
            assembly ("memory-safe") {
                sent := call(gas(), to, amount, 0, 0, 0, 0)
            }
            if (!sent) revert EthTransferFailed(to);
        } else {
            IERC20(asset).safeTransfer(to, amount);
        }
    }

    /// @dev Asks the registry once; afterwards its {IDeviceOwnerHook} call (revocation, transfer, key
    /// rotation) or {setDeviceKey} unlinks the wallet.
    function _link(uint256 device) private {
        bytes32 id = deviceId();
        (address owner_, IDeviceRegistry.DeviceStatus status, address registryKey) = _registry.ownerStatusAndKey(id);
        if (status != IDeviceRegistry.DeviceStatus.Active) {
            if (status == IDeviceRegistry.DeviceStatus.Revoked) revert DeviceRevoked(id);
            revert DeviceNotActive(id);
        }
        if (owner_ != address(this)) revert DeviceNotOwned(id, owner_);
        if (registryKey != address(uint160(device)))
            revert DeviceKeyMismatch(id, address(uint160(device)), registryKey);
        _device = device | _LINKED;
        emit DeviceLinked(id);
    }

    function _ownerWord(address[] calldata owners, uint8 threshold_, uint256 nonce_) private pure returns (OwnerState) {
        uint256 n = owners.length;
        if (n > MAX_OWNERS) revert TooManyOwners(n, MAX_OWNERS);
        if (threshold_ == 0 || threshold_ > n) revert InvalidThreshold(threshold_, n);
        address previous;
        for (uint256 i; i < n; ++i) {
            // Strictly increasing: no zero address, no duplicates.
            if (owners[i] <= previous) revert InvalidOwners();
            previous = owners[i];
        }
        return OwnerStateLibrary.pack(n, threshold_, nonce_, OwnerSet.hash(owners));
    }

    function _setFrozen(bool frozen) private {
        _device = frozen ? _device | _FROZEN : _device & ~_FROZEN;
        emit DeviceFrozen(frozen);
    }

    function _periodIndex(uint256 device) private view returns (uint256) {
        return block.timestamp / uint32(device >> _PERIOD_SHIFT);
    }
}
