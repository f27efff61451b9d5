// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";

import {IERC827} from "../interfaces/IERC827.sol";
import {IERC827Refuser} from "../interfaces/IERC827Refuser.sol";
import {IThingToken} from "../interfaces/IThingToken.sol";

/// @title ThingToken
/// @notice See {IThingToken}.
contract ThingToken is ERC20, ERC20Permit, IThingToken {
    /// @param treasury Receives the whole fixed supply.
    /// @param supply The fixed supply, in the smallest unit (18 decimals).
    constructor(address treasury, uint256 supply) ERC20("ThingToken", "THING") ERC20Permit("ThingToken") {
        _mint(treasury, supply);
    }

    /// @inheritdoc IERC827
    function transferAndCall(address to, uint256 value, bytes calldata data) external payable returns (bool) {
        _requireTransferTarget(to);
        _transfer(msg.sender, to, value);
        _callWithCaller(to, data);
        return true;
    }

    /// @inheritdoc IERC827
    function approveAndCall(address spender, uint256 value, bytes calldata data) external payable returns (bool) {
        _requireNotSelf(spender);
        _approve(msg.sender, spender, value);
        _callWithCaller(spender, data);
        return true;
    }

    /// @inheritdoc IERC827
    function transferFromAndCall(
        address from,
        address to,
        uint256 value,
        bytes calldata data
    ) external payable returns (bool) {
        _requireTransferTarget(to);
        _spendAllowance(from, msg.sender, value);
        _transfer(from, to, value);
        _callWithCaller(to, data);
        return true;
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, IERC20Permit) returns (uint256) {
        return super.nonces(owner);
    }

    function _requireNotSelf(address target) private view {
        if (target == address(this)) revert ERC827CallToToken();
    }

    /// @dev The recipient of a "transfer and call" is neither the token nor a contract that refuses such
    /// transfers. The question is a static call, so the recipient cannot change any state in answering it;
    /// it warms `to` for the call that follows (EIP-2929), so it costs little more than the answer. Only a
    /// 32-byte answer equal to the selector refuses: an account without code, a contract without the
    /// function (it reverts, or its fallback answers something else) accepts, as before.
    function _requireTransferTarget(address to) private view {
        _requireNotSelf(to);
        bytes4 selector = IERC827Refuser.refusesTransfersAndCall.selector;
        bool refused;
        assembly ("memory-safe") {
            // Scratch space only: the selector out, one word back; longer answers are not copied.
            mstore(0x00, selector)
            let ok := staticcall(gas(), to, 0x00, 0x04, 0x00, 0x20)
            refused := and(and(ok, eq(returndatasize(), 0x20)), eq(mload(0x00), selector))
        }
        if (refused) revert UnsolicitedTransfer(to);
    }

    /// @dev Calls `target` with `data ++ msg.sender`, forwarding `msg.value`. Reverts with the callee's own
    /// revert data on failure, with `AddressEmptyCode(target)` when `target` has no code, so that tokens
    /// cannot be sent "and call"-ed to an account that will never see the call.
    function _callWithCaller(address target, bytes calldata data) private {
        Address.functionCallWithValue(target, abi.encodePacked(data, msg.sender), msg.value);
    }
}
