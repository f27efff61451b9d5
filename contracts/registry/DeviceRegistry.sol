// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {DeviceLeaf} from "../libraries/DeviceLeaf.sol";
import {RegistryFees} from "./RegistryFees.sol";

/// @title ThingLedger device registry
/// @notice See {IDeviceRegistry}.
contract DeviceRegistry is RegistryFees, EIP712 {
    bytes32 private constant _ACTIVATE_TYPEHASH = keccak256(
        "Activate(bytes32 deviceId,address owner,uint256 deadline)"
    );
    bytes32 private constant _ROTATE_TYPEHASH = keccak256(
        "RotateKey(bytes32 deviceId,address newKey,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _CLAIM_TYPEHASH = keccak256("IdentityClaim(bytes32 deviceId,bytes32 challenge)");

    /// @dev Slot 1 of a device: written once at registration, and touched again only by activation,
    /// revocation and key rotation.
    struct DeviceRecord {
        address deviceKey;
        DeviceStatus status;
        uint32 manufacturerId;
        uint32 deviceType;
        uint24 keyNonce;
    }

    /// @dev Slot 2 of a device: written at activation. The reputation fields share the owner's slot.
    struct DeviceState {
        address owner;
        uint16 score;
        int8 trend;
        bool scored;
    }

    /// @dev One slot per root.
    struct Whitelist {
        uint32 manufacturerId;
        uint32 capacity;
        uint32 used;
        address manufacturer;
    }

    mapping(bytes32 deviceId => DeviceRecord) private _devices;
    mapping(bytes32 deviceId => DeviceState) private _states;
    mapping(bytes32 deviceId => bytes32) private _metadata;
    mapping(bytes32 root => Whitelist) private _whitelists;

    /// @param admin The network admin (a multisig in production); two-step transferable.
    /// @param token_ The ThingToken fees are paid in; also the trusted forwarder for `approveAndCall`.
    constructor(address admin, IERC20 token_) RegistryFees(admin, token_) EIP712("ThingLedger DeviceRegistry", "1") {}

    // ---------------------------------------------------------------- registration

    /// @inheritdoc IDeviceRegistry
    function registerDevice(bytes32 deviceId, address deviceKey, uint32 deviceType, bytes32 metadataHash) external {
        (Manufacturer storage m, ) = _activeManufacturer();
        _register(deviceId, deviceKey, deviceType, m.id, DeviceStatus.Registered);
        _setMetadata(deviceId, metadataHash);
        _chargeManufacturer(m, 1, 0);
    }

    /// @inheritdoc IDeviceRegistry
    function registerDevices(
        bytes32[] calldata deviceIds,
        address[] calldata deviceKeys,
        uint32[] calldata deviceTypes
    ) external {
        uint256 count = deviceIds.length;
        if (count == 0) revert EmptyBatch();
        if (deviceKeys.length != count || deviceTypes.length != count) revert LengthMismatch();
        (Manufacturer storage m, ) = _activeManufacturer();
        uint32 manufacturerId = m.id;
        for (uint256 i; i < count;) {
            _register(deviceIds[i], deviceKeys[i], deviceTypes[i], manufacturerId, DeviceStatus.Registered);
            // Cannot overflow: i < count, a calldata array length.
            unchecked {
                ++i;
            }
        }
        _chargeManufacturer(m, count, 0);
    }

    /// @inheritdoc IDeviceRegistry
    function commitWhitelist(bytes32 root, uint32 capacity) external {
        if (capacity == 0) revert ZeroCapacity();
        (Manufacturer storage m, address account) = _activeManufacturer();
        Whitelist storage w = _whitelists[root];
        if (w.capacity != 0) revert WhitelistAlreadyCommitted(root);
        uint32 manufacturerId = m.id;
        _whitelists[root] = Whitelist(manufacturerId, capacity, 0, account);
        emit WhitelistCommitted(root, manufacturerId, capacity);
        _chargeManufacturer(m, capacity, 0);
    }

    /// @inheritdoc IDeviceRegistry
    function registerFromWhitelist(
        bytes32 root,
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        bytes32[] calldata proof
    ) external {
        _claim(root, deviceId, deviceKey, deviceType, proof, DeviceStatus.Registered);
    }

    // ---------------------------------------------------------------- activation

    /// @inheritdoc IDeviceRegistry
    function activateDevice(bytes32 deviceId, address owner_, uint256 deadline, bytes calldata signature) external {
        _activate(deviceId, owner_, deadline, signature);
        _chargeActivation(_msgSender());
    }

    /// @inheritdoc IDeviceRegistry
    function activateDeviceWithPermit(
        bytes32 deviceId,
        address owner_,
        uint256 deadline,
        bytes calldata signature,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        _activate(deviceId, owner_, deadline, signature);
        _tryPermit(owner_, _activationFeeAmount(), permitDeadline, v, r, s);
        _chargeActivation(owner_);
    }

    /// @inheritdoc IDeviceRegistry
    function activateFromWhitelist(
        bytes32 root,
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        bytes32[] calldata proof,
        address owner_,
        uint256 deadline,
        bytes calldata signature
    ) external {
        _claim(root, deviceId, deviceKey, deviceType, proof, DeviceStatus.Registered);
        _activate(deviceId, owner_, deadline, signature);
        _chargeActivation(_msgSender());
    }

    /// @inheritdoc IDeviceRegistry
    function registerAndActivate(
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        bytes32 metadataHash,
        address owner_
    ) external {
        if (owner_ == address(0)) revert ZeroAddress();
        (Manufacturer storage m, ) = _activeManufacturer();
        _register(deviceId, deviceKey, deviceType, m.id, DeviceStatus.Active);
        _setMetadata(deviceId, metadataHash);
        _states[deviceId].owner = owner_;
        emit DeviceActivated(deviceId, owner_);
        _chargeManufacturer(m, 1, 1);
    }

    // ---------------------------------------------------------------- lifecycle

    /// @inheritdoc IDeviceRegistry
    function transferDevice(bytes32 deviceId, address newOwner) external {
        if (newOwner == address(0)) revert ZeroAddress();
        DeviceState storage st = _ownedActive(deviceId);
        address previous = st.owner;
        st.owner = newOwner;
        emit DeviceTransferred(deviceId, previous, newOwner);
    }

    /// @inheritdoc IDeviceRegistry
    function revokeDevice(bytes32 deviceId, uint8 reason) external {
        DeviceRecord storage d = _devices[deviceId];
        DeviceStatus status = d.status;
        if (status == DeviceStatus.Unknown) revert DeviceNotRegistered(deviceId);
        if (status == DeviceStatus.Revoked) revert UnexpectedDeviceStatus(deviceId, status);
        address caller = _msgSender();
        if (caller != owner() && caller != _manufacturerAccounts[d.manufacturerId]) {
            revert NotDeviceManufacturerOrAdmin(deviceId, caller);
        }
        d.status = DeviceStatus.Revoked;
        emit DeviceRevoked(deviceId, caller, reason);
    }

    /// @inheritdoc IDeviceRegistry
    function rotateDeviceKey(bytes32 deviceId, address newKey, uint256 deadline, bytes calldata signature) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        _ownedActive(deviceId);
        DeviceRecord storage d = _devices[deviceId];
        address oldKey = d.deviceKey;
        if (newKey == oldKey) revert SameKey(deviceId);
        if (newKey == address(0)) revert InvalidDeviceKey(newKey);
        uint24 nonce = d.keyNonce;
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(_ROTATE_TYPEHASH, deviceId, newKey, nonce, deadline)));
        _requireSignedBy(deviceId, digest, signature, newKey);
        d.deviceKey = newKey;
        // A uint24 nonce allows 16.7 million rotations per device; more wraps to a used nonce only after
        // every earlier signature's key was itself rotated away, and each carries its own deadline.
        unchecked {
            d.keyNonce = nonce + 1;
        }
        emit DeviceKeyRotated(deviceId, oldKey, newKey);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IDeviceRegistry
    function getDevice(bytes32 deviceId) external view returns (DeviceView memory v) {
        DeviceRecord memory d = _devices[deviceId];
        DeviceState memory st = _states[deviceId];
        address manufacturer = _manufacturerAccounts[d.manufacturerId];
        v.status = d.status;
        v.manufacturerId = d.manufacturerId;
        v.manufacturer = manufacturer;
        v.owner = st.owner;
        v.deviceKey = d.deviceKey;
        v.deviceType = d.deviceType;
        v.metadataHash = _metadata[deviceId];
        if (st.scored) {
            v.score = st.score;
            v.trend = st.trend;
        } else if (d.status != DeviceStatus.Unknown) {
            v.score = _manufacturers[manufacturer].defaultScore;
        }
    }

    /// @inheritdoc IDeviceRegistry
    function getStatuses(bytes32[] calldata deviceIds) external view returns (DeviceStatus[] memory statuses) {
        statuses = new DeviceStatus[](deviceIds.length);
        for (uint256 i; i < deviceIds.length; ++i) {
            statuses[i] = _devices[deviceIds[i]].status;
        }
    }

    /// @inheritdoc IDeviceRegistry
    function isValidDeviceSignature(
        bytes32 deviceId,
        bytes32 digest,
        bytes calldata signature
    ) external view returns (bool) {
        DeviceRecord storage d = _devices[deviceId];
        if (d.status != DeviceStatus.Active) return false;
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, signature);
        return err == ECDSA.RecoverError.NoError && recovered == d.deviceKey;
    }

    /// @inheritdoc IDeviceRegistry
    function identityClaimDigest(bytes32 deviceId, bytes32 challenge) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_CLAIM_TYPEHASH, deviceId, challenge)));
    }

    /// @inheritdoc IDeviceRegistry
    function keyNonce(bytes32 deviceId) external view returns (uint256) {
        return _devices[deviceId].keyNonce;
    }

    /// @inheritdoc IDeviceRegistry
    function getWhitelist(bytes32 root) external view returns (WhitelistView memory) {
        Whitelist memory w = _whitelists[root];
        return WhitelistView(w.manufacturerId, w.capacity, w.used);
    }

    // ---------------------------------------------------------------- internal

    function _register(
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        uint32 manufacturerId,
        DeviceStatus status
    ) private {
        if (deviceId == bytes32(0)) revert ZeroDeviceId();
        if (deviceKey == address(0)) revert InvalidDeviceKey(deviceKey);
        DeviceRecord storage d = _devices[deviceId];
        if (d.status != DeviceStatus.Unknown) revert DeviceAlreadyRegistered(deviceId);
        _devices[deviceId] = DeviceRecord(deviceKey, status, manufacturerId, deviceType, 0);
        emit DeviceRegistered(deviceId, manufacturerId, deviceKey, deviceType);
    }

    function _setMetadata(bytes32 deviceId, bytes32 metadataHash) private {
        if (metadataHash != bytes32(0)) {
            _metadata[deviceId] = metadataHash;
            emit DeviceMetadataSet(deviceId, metadataHash);
        }
    }

    function _claim(
        bytes32 root,
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        bytes32[] calldata proof,
        DeviceStatus status
    ) private {
        Whitelist storage w = _whitelists[root];
        uint32 capacity = w.capacity;
        if (capacity == 0) revert UnknownWhitelist(root);
        uint32 used = w.used;
        if (used >= capacity) revert WhitelistCapacityExhausted(root, capacity);
        address manufacturer = w.manufacturer;
        if (!_manufacturers[manufacturer].active) revert NotActiveManufacturer(manufacturer);
        uint32 manufacturerId = w.manufacturerId;
        bytes32 leaf = DeviceLeaf.hash(deviceId, deviceKey, deviceType, manufacturerId);
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert NotInWhitelist(root, deviceId);
        // Cannot overflow: used < capacity, a uint32.
        unchecked {
            w.used = used + 1;
        }
        _register(deviceId, deviceKey, deviceType, manufacturerId, status);
    }

    function _activate(bytes32 deviceId, address owner_, uint256 deadline, bytes calldata signature) private {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        if (owner_ == address(0)) revert ZeroAddress();
        DeviceRecord storage d = _devices[deviceId];
        DeviceStatus status = d.status;
        if (status != DeviceStatus.Registered) {
            if (status == DeviceStatus.Unknown) revert DeviceNotRegistered(deviceId);
            revert UnexpectedDeviceStatus(deviceId, status);
        }
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(_ACTIVATE_TYPEHASH, deviceId, owner_, deadline)));
        _requireSignedBy(deviceId, digest, signature, d.deviceKey);
        d.status = DeviceStatus.Active;
        _states[deviceId].owner = owner_;
        emit DeviceActivated(deviceId, owner_);
    }

    /// @dev OpenZeppelin's ECDSA rejects malformed and high-s signatures and never returns a zero signer
    /// without an error; the expected key is never zero.
    function _requireSignedBy(bytes32 deviceId, bytes32 digest, bytes calldata signature, address key) private pure {
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError || recovered != key) revert InvalidDeviceSignature(deviceId, recovered);
    }

    function _ownedActive(bytes32 deviceId) private view returns (DeviceState storage st) {
        DeviceStatus status = _devices[deviceId].status;
        if (status != DeviceStatus.Active) {
            if (status == DeviceStatus.Unknown) revert DeviceNotRegistered(deviceId);
            revert UnexpectedDeviceStatus(deviceId, status);
        }
        st = _states[deviceId];
        address caller = _msgSender();
        if (st.owner != caller) revert NotDeviceOwner(deviceId, caller);
    }
}
