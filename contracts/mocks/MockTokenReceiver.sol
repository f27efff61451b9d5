// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";

/// @notice A receiver built the way ThingLedger contracts take payments: it trusts the token as an
/// ERC-2771 forwarder and learns the real payer from `_msgSender()`, never from call arguments.
contract MockTokenReceiver is ERC2771Context {
    using SafeERC20 for IERC20;

    IERC20 private immutable _token;
    mapping(address payer => uint256 amount) public credited;
    uint256 public ethReceived;

    event Credited(address indexed payer, uint256 amount, uint256 ethValue);
    event Pinged(address indexed caller, uint256 ethValue);

    error Refused();

    constructor(IERC20 token) ERC2771Context(address(token)) {
        _token = token;
    }

    /// @notice Pulls `amount` from the real payer and credits it.
    function deposit(uint256 amount) external payable {
        address payer = _msgSender();
        _token.safeTransferFrom(payer, address(this), amount);
        credited[payer] += amount;
        ethReceived += msg.value;
        emit Credited(payer, amount, msg.value);
    }

    /// @notice Does nothing but note the caller: the cheapest possible callee, for gas overhead.
    function ping() external payable {
        emit Pinged(_msgSender(), msg.value);
    }

    /// @notice Does nothing at all: measures the bare overhead of an "and call".
    function noop() external payable {}

    function refuse() external payable {
        revert Refused();
    }
}
