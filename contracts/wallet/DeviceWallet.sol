// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {IDeviceWallet} from "../interfaces/IDeviceWallet.sol";
import {CompactSignature} from "../libraries/CompactSignature.sol";
import {SpendWindow} from "../libraries/SpendWindow.sol";

/// @title Device wallet (the implementation behind every clone)
/// @notice See {IDeviceWallet}. Clones carry their device id as an immutable argument; the registry and
/// the factory are immutables of this implementation. The implementation itself is locked at
/// construction: it can never be initialised, and it has no delegatecall or selfdestruct.
contract DeviceWallet is IDeviceWallet, EIP712 {
    using SafeERC20 for IERC20;
    using SpendWindow for uint256;

    /// @notice The largest owner set (bounds the signature loop).
    uint256 public constant MAX_OWNERS = 20;

    bytes32 private constant _EXECUTE_TYPEHASH = keccak256(
        "Execute(address to,uint256 value,bytes data,uint256 gasLimit,uint256 nonce)"
    );
    bytes32 private constant _DEVICE_TRANSFER_TYPEHASH = keccak256(
        "DeviceTransfer(address asset,address to,uint256 amount,uint256 nonce,uint256 deadline)"
    );
    /// @dev Gas kept back for the work after the inner call (the nonce is already stored; an event remains).
    uint256 private constant _CALL_RESERVE = 10_000;
    uint256 private constant _LOCKED = type(uint256).max;

    IDeviceRegistry private immutable _registry;
    address private immutable _factory;

    /// @dev count (8) | threshold (8) | nonce (48) | owner-set hash (192).
    uint256 private _ownerState;
    /// @dev deviceKey (160) | period (32) | frozen (8) | allowlist on (8) | caps on (8) | device nonce (40).
    uint256 private _device;
    mapping(address asset => uint256 word) private _allowances;
    mapping(address asset => uint256 cap) private _caps;
    mapping(address recipient => bool allowed) private _allowedRecipients;

    modifier onlySelf() {
        if (msg.sender != address(this)) revert NotSelf(msg.sender);
        _;
    }

    constructor(IDeviceRegistry registry_) EIP712("ThingLedger DeviceWallet", "1") {
        _registry = registry_;
        _factory = msg.sender;
        _ownerState = _LOCKED;
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
        uint80[] calldata limits
    ) external {
        if (_ownerState != 0) revert AlreadyInitialized();
        if (msg.sender != _factory) revert NotFactory(msg.sender);
        if (assets.length != limits.length) revert LengthMismatch();
        _setOwners(owners, threshold_, 0);
        _setDevice(deviceKey, period);
        for (uint256 i; i < assets.length; ++i) _setAllowance(assets[i], limits[i]);
    }

    // ---------------------------------------------------------------- owners

    /// @inheritdoc IDeviceWallet
    function execute(
        address to,
        uint256 value,
        bytes calldata data,
        uint256 gasLimit,
        address[] calldata owners,
        bytes calldata signatures
    ) external returns (bool success) {
        uint256 state = _ownerState;
        _checkOwnerSet(state, owners);
        uint256 nonce_ = (state >> 16) & type(uint48).max;
        bytes32 digest = executeDigest(to, value, data, gasLimit, nonce_);
        _checkSignatures(digest, owners, signatures, uint8(state >> 8));
        // Cannot overflow: 2^48 executions.
        unchecked {
            _ownerState = state + (1 << 16);
        }
        // The owners signed gasLimit: refuse to start unless the call can really get it (EIP-150 keeps 1/64).
        uint256 needed = gasLimit + gasLimit / 63 + _CALL_RESERVE;
        if (gasleft() < needed) revert InsufficientGas(gasleft(), needed);
        // solhint-disable-next-line avoid-low-level-calls
        (success, ) = to.call{value: value, gas: gasLimit}(data);
        emit Executed(nonce_, to, value, success);
    }

    /// @inheritdoc IDeviceWallet
    function freezeDevice(address[] calldata owners) external {
        _checkOwnerSet(_ownerState, owners);
        bool found;
        for (uint256 i; i < owners.length; ++i) if (owners[i] == msg.sender) found = true;
        if (!found) revert NotOwner(msg.sender);
        _setFrozen(true);
    }

    /// @inheritdoc IDeviceWallet
    function setOwners(address[] calldata owners, uint8 threshold_) external onlySelf {
        _setOwners(owners, threshold_, (_ownerState >> 16) & type(uint48).max);
    }

    /// @inheritdoc IDeviceWallet
    function setDeviceKey(address deviceKey) external onlySelf {
        if (deviceKey == address(0)) revert ZeroAddress();
        _device = (_device & ~uint256(type(uint160).max)) | uint160(deviceKey);
        emit DeviceKeyChanged(deviceKey);
    }

    /// @inheritdoc IDeviceWallet
    function setFrozen(bool frozen) external onlySelf {
        _setFrozen(frozen);
    }

    /// @inheritdoc IDeviceWallet
    function setPeriod(uint32 period) external onlySelf {
        if (period == 0) revert ZeroPeriod();
        _device = (_device & ~(uint256(type(uint32).max) << 160)) | (uint256(period) << 160);
        emit PeriodChanged(period);
    }

    /// @inheritdoc IDeviceWallet
    function setAllowance(address asset, uint80 limit) external onlySelf {
        _setAllowance(asset, limit);
    }

    /// @inheritdoc IDeviceWallet
    function setTransferCap(address asset, uint256 cap) external onlySelf {
        _caps[asset] = cap;
        if (cap != 0) _device |= 1 << 208;
        emit TransferCapChanged(asset, cap);
    }

    /// @inheritdoc IDeviceWallet
    function setRecipientAllowed(address recipient, bool allowed) external onlySelf {
        _allowedRecipients[recipient] = allowed;
        emit RecipientAllowed(recipient, allowed);
    }

    /// @inheritdoc IDeviceWallet
    function setAllowlistEnabled(bool enabled) external onlySelf {
        _device = enabled ? _device | (1 << 200) : _device & ~uint256(1 << 200);
        emit AllowlistEnabled(enabled);
    }

    // ---------------------------------------------------------------- device

    /// @inheritdoc IDeviceWallet
    function deviceTransfer(address asset, address to, uint256 amount) external {
        uint256 device = _device;
        if (msg.sender != address(uint160(device))) revert NotDevice(msg.sender);
        _deviceSpend(device, asset, to, amount);
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
        uint256 deviceNonce = device >> 216;
        address signer = CompactSignature.recover(
            deviceTransferDigest(asset, to, amount, deviceNonce, deadline),
            r,
            vs
        );
        if (signer == address(0) || signer != address(uint160(device))) revert InvalidSignature(0);
        // Cannot overflow: 2^40 relayed transfers.
        unchecked {
            device += 1 << 216;
        }
        _device = device;
        _deviceSpend(device, asset, to, amount);
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
        return (_ownerState >> 16) & type(uint48).max;
    }

    /// @inheritdoc IDeviceWallet
    function threshold() external view returns (uint8) {
        return uint8(_ownerState >> 8);
    }

    /// @inheritdoc IDeviceWallet
    function ownerCount() external view returns (uint8) {
        return uint8(_ownerState);
    }

    /// @inheritdoc IDeviceWallet
    function isOwnerSet(address[] calldata owners) external view returns (bool) {
        return owners.length == uint8(_ownerState) && _ownerHash(owners) == _ownerState >> 64;
    }

    /// @inheritdoc IDeviceWallet
    function deviceConfig() external view returns (DeviceConfig memory) {
        uint256 d = _device;
        return
            DeviceConfig({
                deviceKey: address(uint160(d)),
                period: uint32(d >> 160),
                frozen: (d >> 192) & 1 == 1,
                allowlistEnabled: (d >> 200) & 1 == 1,
                capsEnabled: (d >> 208) & 1 == 1,
                deviceNonce: uint40(d >> 216)
            });
    }

    /// @inheritdoc IDeviceWallet
    function allowance(address asset) external view returns (AllowanceView memory view_) {
        uint256 word = _allowances[asset];
        uint32 period = uint32(_device >> 160);
        (uint256 current, uint256 previous) = word.spentAt(period == 0 ? 0 : block.timestamp / period);
        uint256 limit = word.limit();
        view_ = AllowanceView({
            limit: uint80(limit),
            spentCurrentPeriod: uint80(current),
            spentPreviousPeriod: uint80(previous),
            available: current + previous >= limit ? 0 : limit - current - previous
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

    function _deviceSpend(uint256 device, address asset, address to, uint256 amount) private {
        if ((device >> 192) & 1 == 1) revert DeviceIsFrozen();
        if (amount == 0) revert ZeroAmount();
        if ((device >> 200) & 1 == 1 && !_allowedRecipients[to]) revert RecipientNotAllowed(to);
        if ((device >> 208) & 1 == 1) {
            uint256 cap = _caps[asset];
            if (cap != 0 && amount > cap) revert AboveTransferCap(asset, amount, cap);
        }
        uint256 word = _allowances[asset];
        if (word.limit() == 0) revert AssetNotListed(asset);
        (bool ok, uint256 updated) = word.spend(amount, block.timestamp / uint32(device >> 160));
        if (!ok) {
            (uint256 current, uint256 previous) = word.spentAt(block.timestamp / uint32(device >> 160));
            uint256 used = current + previous;
            revert AboveLimit(asset, amount, used >= word.limit() ? 0 : word.limit() - used);
        }
        bytes32 id = deviceId();
        if (_registry.statusOf(id) == IDeviceRegistry.DeviceStatus.Revoked) revert DeviceRevoked(id);
        _allowances[asset] = updated;
        emit DeviceSpent(asset, to, amount);
        if (asset == address(0)) {
            // solhint-disable-next-line avoid-low-level-calls
            (bool sent, ) = to.call{value: amount}("");
            if (!sent) revert EthTransferFailed(to);
        } else {
            IERC20(asset).safeTransfer(to, amount);
        }
    }

    function _setOwners(address[] calldata owners, uint8 threshold_, uint256 nonce_) private {
        uint256 n = owners.length;
        if (n > MAX_OWNERS) revert TooManyOwners(n, MAX_OWNERS);
        if (threshold_ == 0 || threshold_ > n) revert InvalidThreshold(threshold_, n);
        address previous;
        for (uint256 i; i < n; ++i) {
            // Strictly increasing: no zero address, no duplicates.
            if (owners[i] <= previous) revert InvalidOwners();
            previous = owners[i];
        }
        _ownerState = n | (uint256(threshold_) << 8) | (nonce_ << 16) | (_ownerHash(owners) << 64);
        emit OwnersChanged(owners, threshold_);
    }

    function _setDevice(address deviceKey, uint32 period) private {
        if (deviceKey == address(0)) revert ZeroAddress();
        if (period == 0) revert ZeroPeriod();
        _device = uint160(deviceKey) | (uint256(period) << 160);
        emit DeviceKeyChanged(deviceKey);
        emit PeriodChanged(period);
    }

    function _setFrozen(bool frozen) private {
        _device = frozen ? _device | (1 << 192) : _device & ~uint256(1 << 192);
        emit DeviceFrozen(frozen);
    }

    function _setAllowance(address asset, uint80 limit) private {
        _allowances[asset] = _allowances[asset].withLimit(limit);
        emit AllowanceChanged(asset, limit);
    }

    function _checkOwnerSet(uint256 state, address[] calldata owners) private pure {
        if (owners.length != uint8(state) || _ownerHash(owners) != state >> 64) revert WrongOwners();
    }

    function _ownerHash(address[] calldata owners) private pure returns (uint256) {
        return uint256(keccak256(abi.encodePacked(owners))) >> 64;
    }

    /// @dev `threshold_` compact signatures, signers strictly increasing, each one of `owners` (sorted).
    function _checkSignatures(
        bytes32 digest,
        address[] calldata owners,
        bytes calldata signatures,
        uint8 threshold_
    ) private pure {
        if (signatures.length != uint256(threshold_) * 64)
            revert WrongSignatureCount(signatures.length / 64, threshold_);
        address previous;
        uint256 o;
        for (uint256 i; i < threshold_; ++i) {
            bytes32 r = bytes32(signatures[i * 64:i * 64 + 32]);
            bytes32 vs = bytes32(signatures[i * 64 + 32:i * 64 + 64]);
            address signer = CompactSignature.recover(digest, r, vs);
            if (signer == address(0)) revert InvalidSignature(i);
            if (signer <= previous) revert SignersNotSorted(signer);
            previous = signer;
            // owners are sorted: walk forward to the signer.
            while (o < owners.length && owners[o] < signer) ++o;
            if (o == owners.length || owners[o] != signer) revert NotOwner(signer);
        }
    }
}
