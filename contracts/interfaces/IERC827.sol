// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/**
 * @title ERC-827 "and call" extension of ERC-20, made safe
 * @notice Each function performs the ERC-20 operation and then calls a contract with `data`, forwarding
 * `msg.value`, in one transaction.
 *
 * The original ERC-827 was withdrawn because any caller could make the token call any contract with any
 * data, so a contract that trusted `msg.sender == token` could be fooled. This version closes that hole:
 *
 * - the token never calls itself ({ERC827CallToToken});
 * - the token appends the original caller (20 bytes, ERC-2771 style) to `data`, so a receiver that trusts
 *   the token reads the real payer with `_msgSender()` and never from forgeable call arguments;
 * - a failing callee reverts the whole operation (its revert data is bubbled up), so no allowance or
 *   balance change survives a failed call;
 * - all token state changes happen before the call (checks-effects-interactions), so a callee that
 *   re-enters the token can only spend what is still legitimately allowed;
 * - a recipient that takes payments only by pulling them can refuse tokens pushed at it with
 *   `transferAndCall` / `transferFromAndCall` ({IERC827Refuser}, {UnsolicitedTransfer}), where they would
 *   otherwise be trapped.
 *
 * WARNING: never grant the token's address any privilege in another contract (an owner role, an
 * allowance, a trusted-forwarder role without reading the appended caller). The token will call any
 * contract but itself on behalf of anyone.
 */
interface IERC827 is IERC20 {
    /// @notice The target of an "and call" was the token itself.
    error ERC827CallToToken();

    /// @notice `to` refuses tokens pushed with transferAndCall or transferFromAndCall (see {IERC827Refuser}).
    /// @param to The recipient that refused.
    error UnsolicitedTransfer(address to);

    /**
     * @notice Transfers `value` tokens from the caller to `to`, then calls `to` with `data` followed by
     * the caller's address, forwarding `msg.value`. Reverts with {UnsolicitedTransfer} if `to` refuses
     * such transfers ({IERC827Refuser}).
     * @return Always true; failures revert.
     */
    function transferAndCall(address to, uint256 value, bytes calldata data) external payable returns (bool);

    /**
     * @notice Sets the allowance of `spender` over the caller's tokens to `value`, then calls `spender`
     * with `data` followed by the caller's address, forwarding `msg.value`.
     * @return Always true; failures revert.
     */
    function approveAndCall(address spender, uint256 value, bytes calldata data) external payable returns (bool);

    /**
     * @notice Moves `value` tokens from `from` to `to` using the caller's allowance, then calls `to` with
     * `data` followed by the caller's (the spender's) address, forwarding `msg.value`. Reverts with
     * {UnsolicitedTransfer} if `to` refuses such transfers ({IERC827Refuser}).
     * @return Always true; failures revert.
     */
    function transferFromAndCall(
        address from,
        address to,
        uint256 value,
        bytes calldata data
    ) external payable returns (bool);
}
