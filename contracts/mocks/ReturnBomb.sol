// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Attack helper: a callee that reverts, or returns, with `size` bytes (paying for its own memory),
/// so that a caller copying the return data pays for that much memory again.
contract ReturnBomb {
    /// @notice Paid with ETH and no data (a plain transfer), returns `FALLBACK_SIZE` bytes.
    uint256 public constant FALLBACK_SIZE = 1_000_000;

    fallback() external payable {
        assembly ("memory-safe") {
            return(0, FALLBACK_SIZE)
        }
    }

    function explode(uint256 size, bool asRevert) external pure {
        assembly ("memory-safe") {
            if asRevert {
                revert(0, size)
            }
            return(0, size)
        }
    }
}
