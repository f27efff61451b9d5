// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {Context} from "@openzeppelin/contracts/utils/Context.sol";

import {IDeviceRegistry} from "../interfaces/IDeviceRegistry.sol";
import {DeviceId} from "../libraries/DeviceId.sol";

/**
 * @title What the registry and its modules share
 * @notice The admin (two-step ownership, meant to be a multisig), the fee token, and each device's owner
 * record. The registry ({DeviceRegistry}) owns devices and their owners; the fee module ({RegistryFees})
 * and the reputation module ({DeviceReputation}) sit beside it on this base, each keeping its own state
 * private.
 * @dev The ThingToken is the ERC-2771 trusted forwarder: when the token calls in through `approveAndCall`,
 * `_msgSender()` is the real payer the token appended, never call data.
 */
abstract contract RegistryBase is IDeviceRegistry, Ownable2Step, ERC2771Context {
    /// @notice The highest reputation score.
    uint16 public constant MAX_SCORE = 1000;

    /// @dev Slot 2 of a device: its owner, written by the registry at activation, and the reputation
    /// module's fields, which share the word so that a first score costs no more than a later one and the
    /// "is it activated" check is the same read. `scorePlusOne` is 0 until the first audit, so a score of 0
    /// is distinguishable from "not audited". `revoked` is set by the registry's revocation, so scoring reads
    /// no other slot to refuse a revoked device.
    struct DeviceState {
        address owner;
        uint16 scorePlusOne;
        int8 trend;
        uint32 epoch;
        bool revoked;
    }

    IERC20 private immutable _token;

    /// @dev Keyed by the device's 96-bit reference ({DeviceId-ref}); the registry writes an owner only into
    /// a word never used, so a word belongs to the first device activated under its reference.
    mapping(uint96 ref => DeviceState) private _states;

    constructor(address admin, IERC20 token_) Ownable(admin) ERC2771Context(address(token_)) {
        _token = token_;
    }

    /// @inheritdoc IDeviceRegistry
    function token() external view returns (address) {
        return address(_token);
    }

    /// @dev The token fees and rewards are paid in.
    function _feeToken() internal view returns (IERC20) {
        return _token;
    }

    /// @dev The owner and reputation word of `deviceId`'s reference: the device's own word once it has been
    /// activated (before, it may be another device's: check the device's status first).
    function _deviceState(bytes32 deviceId) internal pure returns (DeviceState storage) {
        return _refState(DeviceId.ref(deviceId));
    }

    /// @dev The owner and reputation word of a device reference: `_states[ref]`, its slot computed in the
    /// scratch space (the batch paths compute it per entry).
    function _refState(uint96 ref) internal pure returns (DeviceState storage st) {
        assembly ("memory-safe") {
            mstore(0, ref)
            mstore(0x20, _states.slot)
            st.slot := keccak256(0, 0x40)
        }
    }

    /// @dev The device's owner and reputation word, raw (owner bits 0-159, `scorePlusOne` 160-175, `trend`
    /// 176-183, `epoch` 184-215, `revoked` 216-223), if it has been active; else zero (see {_deviceState}).
    function _activatedStateWord(bytes32 deviceId) internal view virtual returns (uint256);

    /// @dev Tokens the registry holds that belong to no one yet (see {RegistryFees}).
    function _rewardPool() internal view virtual returns (uint256);

    /// @dev Tokens set aside for auditors' rewards (see {DeviceReputation}); not part of the pool.
    function _reservedForRewards() internal view virtual returns (uint256);

    function _msgSender() internal view override(Context, ERC2771Context) returns (address) {
        return ERC2771Context._msgSender();
    }

    function _msgData() internal view override(Context, ERC2771Context) returns (bytes calldata) {
        return ERC2771Context._msgData();
    }

    function _contextSuffixLength() internal view override(Context, ERC2771Context) returns (uint256) {
        return ERC2771Context._contextSuffixLength();
    }
}
