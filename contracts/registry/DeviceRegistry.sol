// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

import {IDeviceOwnerHook} from "../interfaces/IDeviceOwnerHook.sol";
import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {CompactSignature} from "../libraries/CompactSignature.sol";
import {DeviceId} from "../libraries/DeviceId.sol";
import {DeviceLeaf} from "../libraries/DeviceLeaf.sol";
import {PackedDevice, PackedDeviceLibrary} from "../libraries/PackedDevice.sol";
import {DeviceReputation} from "../reputation/DeviceReputation.sol";
import {RegistryBase} from "./RegistryBase.sol";
import {RegistryFees} from "./RegistryFees.sol";

/// @title ThingLedger device registry
/// @notice See {IDeviceRegistry}.
contract DeviceRegistry is RegistryFees, DeviceReputation, EIP712 {
    bytes32 private constant _ACTIVATE_TYPEHASH = keccak256(
        "Activate(bytes32 deviceId,address owner,uint256 deadline)"
    );
    bytes32 private constant _PAY_ACTIVATION_TYPEHASH = keccak256(
        "PayActivation(bytes32 deviceId,address owner,uint256 maxFee,uint256 deadline)"
    );
    bytes32 private constant _ROTATE_TYPEHASH = keccak256(
        "RotateKey(bytes32 deviceId,address newKey,uint256 nonce,uint256 deadline)"
    );
    /// @notice Gas given to a contract owner's {IDeviceOwnerHook} on revocation, transfer and key rotation.
    uint256 public constant OWNER_HOOK_GAS = 30_000;

    bytes32 private constant _CLAIM_TYPEHASH = keccak256("IdentityClaim(bytes32 deviceId,bytes32 challenge)");

    /// @dev One slot per (manufacturer, root).
    /// @dev The activation fee is fixed at commit time: the devices of a root are sold with a known
    /// activation price, and an activation from a proof reads no other fee slot. `feeSetting` is that fee's
    /// number (see RegistryFees), recorded in each device registered from the root (see {PackedDevice}), so
    /// that {activateDevice} charges it too.
    struct Whitelist {
        uint16 feeSetting;
        uint32 capacity;
        uint32 used;
        uint72 activationFee;
    }

    /// @dev Slot 1 of a device (see {PackedDevice}): written once at registration, and touched again only by
    /// activation, revocation and key rotation.
    mapping(bytes32 deviceId => PackedDevice packed) private _devices;
    mapping(bytes32 deviceId => bytes32) private _metadata;
    mapping(uint32 manufacturerId => mapping(bytes32 root => Whitelist)) private _whitelists;

    /// @param admin The network admin (a multisig in production); two-step transferable.
    /// @param token_ The ThingToken fees are paid in; also the trusted forwarder for `approveAndCall`.
    /// @param registrationFee_ Initial fee per registered device, within the cap.
    /// @param activationFee_ Initial fee per activation, within the cap.
    /// @param epochLength_ Length of a reputation epoch, in seconds.
    /// @param auditReward_ Reward per changed score, paid to auditors from the pool (capped at 100 THING).
    constructor(
        address admin,
        IERC20 token_,
        uint256 registrationFee_,
        uint256 activationFee_,
        uint256 epochLength_,
        uint256 auditReward_
    )
        RegistryBase(admin, token_)
        RegistryFees(registrationFee_, activationFee_)
        DeviceReputation(epochLength_, auditReward_)
        EIP712("ThingLedger DeviceRegistry", "1")
    {}

    // ---------------------------------------------------------------- registration

    /// @inheritdoc IDeviceRegistry
    function registerDevice(
        uint256 maxFee,
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        bytes32 metadataHash
    ) external {
        (Manufacturer storage m, ) = _activeManufacturer();
        _register(deviceId, deviceKey, deviceType, m.id, DeviceStatus.Registered);
        _setMetadata(deviceId, metadataHash);
        _chargeManufacturer(m, 1, 0, maxFee);
    }

    /// @inheritdoc IDeviceRegistry
    function registerDevices(
        uint256 maxFee,
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
            _store(deviceIds[i], deviceKeys[i], deviceTypes[i], manufacturerId, 0, DeviceStatus.Registered);
            // Cannot overflow: i < count, a calldata array length.
            unchecked {
                ++i;
            }
        }
        // One event for the batch: a log per device would cost ~2,000 gas each.
        emit DevicesRegistered(manufacturerId, deviceIds);
        _chargeManufacturer(m, count, 0, maxFee);
    }

    /// @inheritdoc IDeviceRegistry
    function commitWhitelist(uint256 maxFee, uint256 maxActivationFee, bytes32 root, uint32 capacity) external {
        if (capacity == 0) revert ZeroCapacity();
        (Manufacturer storage m, ) = _activeManufacturer();
        uint32 manufacturerId = m.id;
        mapping(bytes32 root => Whitelist) storage roots = _whitelists[manufacturerId];
        if (roots[root].capacity != 0) revert WhitelistAlreadyCommitted(root);
        (uint256 fee, uint16 setting) = _activationFeeSetting();
        if (fee > maxActivationFee) revert ActivationFeeAboveMax(fee, maxActivationFee);
        // The fee fits in 72 bits: it is capped at 100e18 < 2^72 (RegistryFees).
        roots[root] = Whitelist(setting, capacity, 0, uint72(fee));
        emit WhitelistCommitted(root, manufacturerId, capacity);
        _chargeManufacturer(m, capacity, 0, maxFee);
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
        emit DeviceRegistered(deviceId, DeviceId.manufacturerId(deviceId), deviceKey, deviceType);
    }

    /// @inheritdoc IDeviceRegistry
    function closeWhitelist(uint32 manufacturerId, bytes32 root) external {
        Whitelist storage w = _whitelists[manufacturerId][root];
        if (w.capacity == 0) revert UnknownWhitelist(manufacturerId, root);
        address caller = _msgSender();
        if (caller != owner() && !_isActiveManufacturer(manufacturerId, caller)) {
            revert NotWhitelistManufacturerOrAdmin(root, caller);
        }
        uint32 unused = w.capacity - w.used;
        w.capacity = w.used;
        emit WhitelistClosed(root, manufacturerId, unused);
    }

    // ---------------------------------------------------------------- activation

    /// @inheritdoc IDeviceRegistry
    function activateDevice(
        uint256 maxFee,
        bytes32 deviceId,
        address owner_,
        uint256 deadline,
        bytes32 r,
        bytes32 vs
    ) external {
        uint256 fee = _activate(deviceId, owner_, deadline, r, vs);
        _chargeActivation(_msgSender(), fee, maxFee);
    }

    /// @inheritdoc IDeviceRegistry
    function activateDeviceWithPermit(
        uint256 maxFee,
        bytes32 deviceId,
        address owner_,
        uint256 deadline,
        bytes32 r,
        bytes32 vs,
        uint256 ownerDeadline,
        uint8 permitV,
        bytes32 permitR,
        bytes32 permitS,
        bytes calldata ownerConsent
    ) external {
        uint256 fee = _activate(deviceId, owner_, deadline, r, vs);
        if (fee > maxFee) revert FeeAboveMax(fee, maxFee);
        if (fee == 0) return;
        if (_msgSender() != owner_) {
            // A permit names no device: only the owner's consent for this device lets a stranger's call pay.
            if (block.timestamp > ownerDeadline) revert SignatureExpired(ownerDeadline);
            bytes32 digest = _hashTypedDataV4(
                keccak256(abi.encode(_PAY_ACTIVATION_TYPEHASH, deviceId, owner_, maxFee, ownerDeadline))
            );
            if (!SignatureChecker.isValidSignatureNowCalldata(owner_, digest, ownerConsent)) {
                revert InvalidOwnerConsent(deviceId, owner_);
            }
        }
        _chargeOwner(owner_, fee, maxFee, ownerDeadline, permitV, permitR, permitS);
    }

    /// @inheritdoc IDeviceRegistry
    function activateFromWhitelist(
        uint256 maxFee,
        bytes32 root,
        bytes32 deviceId,
        uint32 deviceType,
        bytes32[] calldata proof,
        address owner_,
        uint256 deadline,
        bytes32 r,
        bytes32 vs
    ) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        if (owner_ == address(0)) revert ZeroAddress();
        address deviceKey = CompactSignature.recover(_activationDigest(deviceId, owner_, deadline), r, vs);
        if (deviceKey == address(0)) revert InvalidDeviceSignature(deviceId, deviceKey);
        // The leaf binds the key: a signature by any other key cannot prove membership.
        uint256 fee = _claim(root, deviceId, deviceKey, deviceType, proof, DeviceStatus.Active);
        _setFirstOwner(deviceId, owner_);
        _chargeActivation(_msgSender(), fee, maxFee);
    }

    /// @inheritdoc IDeviceRegistry
    function registerAndActivate(
        uint256 maxFee,
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
        _setFirstOwner(deviceId, owner_);
        _chargeManufacturer(m, 1, 1, maxFee);
    }

    // ---------------------------------------------------------------- lifecycle

    /// @inheritdoc IDeviceRegistry
    function transferDevice(bytes32 deviceId, address newOwner) external {
        if (newOwner == address(0)) revert ZeroAddress();
        DeviceState storage st = _ownedActive(deviceId);
        address previous = st.owner;
        st.owner = newOwner;
        emit DeviceTransferred(deviceId, previous, newOwner);
        _notifyOwner(previous, deviceId);
    }

    /// @inheritdoc IDeviceRegistry
    function revokeDevice(bytes32 deviceId, uint8 reason) external {
        PackedDevice word = _devices[deviceId];
        DeviceStatus status = word.status();
        if (status == DeviceStatus.Unknown) revert DeviceNotRegistered(deviceId);
        if (status == DeviceStatus.Revoked) revert UnexpectedDeviceStatus(deviceId, status);
        address caller = _msgSender();
        if (caller != owner() && !_isActiveManufacturer(DeviceId.manufacturerId(deviceId), caller)) {
            revert NotDeviceManufacturerOrAdmin(deviceId, caller);
        }
        _devices[deviceId] = word.withStatus(DeviceStatus.Revoked);
        emit DeviceRevoked(deviceId, caller, reason);
        // Only an active device owns the word of its reference: a registered one never had an owner (and
        // its reference's word may be another device's, see {_setFirstOwner}).
        if (status == DeviceStatus.Active) _notifyOwner(_revokeScoring(deviceId), deviceId);
    }

    /// @inheritdoc IDeviceRegistry
    function rotateDeviceKey(bytes32 deviceId, address newKey, uint256 deadline, bytes32 r, bytes32 vs) external {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        DeviceState storage st = _ownedActive(deviceId);
        PackedDevice word = _devices[deviceId];
        address oldKey = word.deviceKey();
        if (newKey == oldKey) revert SameKey(deviceId);
        if (newKey == address(0)) revert InvalidDeviceKey(newKey);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(_ROTATE_TYPEHASH, deviceId, newKey, word.keyNonce(), deadline))
        );
        _requireSignedBy(deviceId, digest, r, vs, newKey);
        _devices[deviceId] = word.withRotatedKey(newKey);
        emit DeviceKeyRotated(deviceId, oldKey, newKey);
        _notifyOwner(st.owner, deviceId);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IDeviceRegistry
    function getDevice(bytes32 deviceId) external view returns (DeviceView memory v) {
        PackedDevice word = _devices[deviceId];
        v.status = word.status();
        if (v.status == DeviceStatus.Unknown) return v;
        uint256 st = _ownStateWord(deviceId, word);
        v.manufacturerId = DeviceId.manufacturerId(deviceId);
        (address manufacturer, uint16 defaultScore) = _manufacturerDefaultScore(v.manufacturerId);
        v.manufacturer = manufacturer;
        v.owner = address(uint160(st));
        v.deviceKey = word.deviceKey();
        v.deviceType = word.deviceType();
        v.metadataHash = _metadata[deviceId];
        // Until its first audit a device carries its manufacturer's default score.
        uint16 scorePlusOne = uint16(st >> 160);
        if (scorePlusOne != 0) {
            v.score = scorePlusOne - 1;
            v.trend = int8(uint8(st >> 176));
        } else {
            v.score = defaultScore;
        }
    }

    /// @inheritdoc IDeviceRegistry
    function getStatuses(bytes32[] calldata deviceIds) external view returns (DeviceStatus[] memory statuses) {
        statuses = new DeviceStatus[](deviceIds.length);
        for (uint256 i; i < deviceIds.length; ++i) {
            statuses[i] = _devices[deviceIds[i]].status();
        }
    }

    /// @inheritdoc IDeviceRegistry
    function ownerAndStatus(bytes32 deviceId) external view returns (address owner_, DeviceStatus status) {
        PackedDevice word = _devices[deviceId];
        return (address(uint160(_ownStateWord(deviceId, word))), word.status());
    }

    /// @inheritdoc IDeviceRegistry
    function ownerStatusAndKey(
        bytes32 deviceId
    ) external view returns (address owner_, DeviceStatus status, address deviceKey) {
        PackedDevice word = _devices[deviceId];
        return (address(uint160(_ownStateWord(deviceId, word))), word.status(), word.deviceKey());
    }

    /// @inheritdoc IDeviceRegistry
    function isValidDeviceSignature(
        bytes32 deviceId,
        bytes32 digest,
        bytes calldata signature
    ) external view returns (bool) {
        PackedDevice word = _devices[deviceId];
        if (word.status() != DeviceStatus.Active) return false;
        // 65-byte (r, s, v) or 64-byte EIP-2098 (r, vs); anything else, or a high s, recovers zero, never
        // an active device's key.
        return CompactSignature.recoverCalldata(digest, signature) == word.deviceKey();
    }

    /// @inheritdoc IDeviceRegistry
    function identityClaimDigest(bytes32 deviceId, bytes32 challenge) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_CLAIM_TYPEHASH, deviceId, challenge)));
    }

    /// @inheritdoc IDeviceRegistry
    function keyNonce(bytes32 deviceId) external view returns (uint256) {
        return _devices[deviceId].keyNonce();
    }

    /// @inheritdoc IDeviceRegistry
    function getWhitelist(uint32 manufacturerId, bytes32 root) external view returns (WhitelistView memory) {
        Whitelist memory w = _whitelists[manufacturerId][root];
        if (w.feeSetting == 0) return WhitelistView(0, 0, 0, 0);
        return WhitelistView(manufacturerId, w.capacity, w.used, w.activationFee);
    }

    /// @inheritdoc IDeviceRegistry
    function activationFeeOf(bytes32 deviceId) external view returns (uint256) {
        return _activationFeeOfSetting(_devices[deviceId].feeSetting());
    }

    // ---------------------------------------------------------------- internal

    function _register(
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        uint32 manufacturerId,
        DeviceStatus status
    ) private {
        _store(deviceId, deviceKey, deviceType, manufacturerId, 0, status);
        emit DeviceRegistered(deviceId, manufacturerId, deviceKey, deviceType);
    }

    /// @dev Refuses an id outside `manufacturerId`'s namespace, the zero id included (ids start at 1).
    function _store(
        bytes32 deviceId,
        address deviceKey,
        uint32 deviceType,
        uint32 manufacturerId,
        uint16 feeSetting,
        DeviceStatus status
    ) private {
        if (DeviceId.manufacturerId(deviceId) != manufacturerId) {
            revert DeviceIdOutsideNamespace(deviceId, manufacturerId);
        }
        if (deviceKey == address(0)) revert InvalidDeviceKey(deviceKey);
        if (!_devices[deviceId].isEmpty()) revert DeviceAlreadyRegistered(deviceId);
        _devices[deviceId] = PackedDeviceLibrary.pack(deviceKey, status, feeSetting, deviceType);
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
    ) private returns (uint256 activationFee) {
        // The root is looked up under the manufacturer the id names, so the id is in the root's namespace
        // by construction, and another manufacturer's root with the same hash is never consulted.
        uint32 manufacturerId = DeviceId.manufacturerId(deviceId);
        Whitelist storage w = _whitelists[manufacturerId][root];
        Whitelist memory wl = w;
        if (wl.capacity == 0) revert UnknownWhitelist(manufacturerId, root);
        if (wl.used >= wl.capacity) revert WhitelistCapacityExhausted(root, wl.capacity);
        bytes32 leaf = DeviceLeaf.hash(deviceId, deviceKey, deviceType, manufacturerId);
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert NotInWhitelist(root, deviceId);
        // Cannot overflow: used < capacity, a uint32.
        unchecked {
            w.used = wl.used + 1;
        }
        _store(deviceId, deviceKey, deviceType, manufacturerId, wl.feeSetting, status);
        return wl.activationFee;
    }

    /// @dev Returns the activation fee to charge (see {activationFeeOf}).
    function _activate(
        bytes32 deviceId,
        address owner_,
        uint256 deadline,
        bytes32 r,
        bytes32 vs
    ) private returns (uint256 fee) {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        if (owner_ == address(0)) revert ZeroAddress();
        PackedDevice word = _devices[deviceId];
        DeviceStatus status = word.status();
        if (status != DeviceStatus.Registered) {
            if (status == DeviceStatus.Unknown) revert DeviceNotRegistered(deviceId);
            revert UnexpectedDeviceStatus(deviceId, status);
        }
        _requireSignedBy(deviceId, _activationDigest(deviceId, owner_, deadline), r, vs, word.deviceKey());
        _devices[deviceId] = word.withStatus(DeviceStatus.Active);
        _setFirstOwner(deviceId, owner_);
        // A device from a whitelist keeps its root's fee, whoever registered it; any other device pays the
        // current fee. Either way one fee slot is read.
        return _activationFeeOfSetting(word.feeSetting());
    }

    /// @dev Writes the first owner of `deviceId`'s reference word, which must never have been used: two ids
    /// of one manufacturer sharing their low 64 bits (which only that manufacturer can register) share the
    /// word, and the second one is refused. The read makes the write warm, so the check costs no extra slot
    /// access.
    function _setFirstOwner(bytes32 deviceId, address owner_) private {
        DeviceState storage st = _deviceState(deviceId);
        uint256 word;
        assembly ("memory-safe") {
            word := sload(st.slot)
        }
        if (word != 0) revert DeviceRefTaken(deviceId, DeviceId.ref(deviceId));
        // The whole word: the owner, no score yet, not revoked.
        assembly ("memory-safe") {
            sstore(st.slot, owner_)
        }
        emit DeviceActivated(deviceId, owner_);
    }

    /// @dev The device's owner and reputation word ({DeviceState}, raw), zero unless it has been active (the
    /// word of its reference may otherwise be another device's).
    function _ownStateWord(bytes32 deviceId, PackedDevice word) private view returns (uint256 st) {
        if (!word.wasActivated()) return 0;
        DeviceState storage state = _deviceState(deviceId);
        assembly ("memory-safe") {
            st := sload(state.slot)
        }
    }

    function _activatedStateWord(bytes32 deviceId) internal view override returns (uint256) {
        return _ownStateWord(deviceId, _devices[deviceId]);
    }

    function _activationDigest(bytes32 deviceId, address owner_, uint256 deadline) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_ACTIVATE_TYPEHASH, deviceId, owner_, deadline)));
    }

    /// @dev {CompactSignature} returns zero for a malformed or high-s signature, and the expected key is
    /// never zero, so one comparison refuses both.
    function _requireSignedBy(bytes32 deviceId, bytes32 digest, bytes32 r, bytes32 vs, address key) private pure {
        address recovered = CompactSignature.recover(digest, r, vs);
        if (recovered != key) revert InvalidDeviceSignature(deviceId, recovered);
    }

    /// @dev Tells a contract owner that its device was revoked, transferred or rekeyed (see {IDeviceOwnerHook}). Our
    /// state is final before the call. The hook gets its whole budget or the transaction reverts, so a
    /// caller cannot starve it; a failing hook is ignored, so an owner cannot block a revocation.
    function _notifyOwner(address owner_, bytes32 deviceId) private {
        if (owner_.code.length == 0) return;
        // EIP-150 passes on at most 63/64 of what is left; 1,000 covers the call's own cost.
        uint256 needed = OWNER_HOOK_GAS + OWNER_HOOK_GAS / 63 + 1_000;
        if (gasleft() < needed) revert OwnerHookGasTooLow(gasleft(), needed);
        // A hook that fails is ignored on purpose (see above).
        // solhint-disable-next-line no-empty-blocks
        try IDeviceOwnerHook(owner_).onDeviceRecordChanged{gas: OWNER_HOOK_GAS}(deviceId) {} catch {}
    }

    function _ownedActive(bytes32 deviceId) private view returns (DeviceState storage st) {
        DeviceStatus status = _devices[deviceId].status();
        if (status != DeviceStatus.Active) {
            if (status == DeviceStatus.Unknown) revert DeviceNotRegistered(deviceId);
            revert UnexpectedDeviceStatus(deviceId, status);
        }
        st = _deviceState(deviceId);
        address caller = _msgSender();
        if (st.owner != caller) revert NotDeviceOwner(deviceId, caller);
    }
}
