// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Attack helper: a callee that reverts, or returns, with `size` bytes (paying for its own memory),
/// so that a caller copying the return data pays for that much memory again.
contract ReturnBomb {
    function explode(uint256 size, bool asRevert) external pure {
        assembly ("memory-safe") {
            if asRevert {
                revert(0, size)
            }
            return(0, size)
        }
    }
}
