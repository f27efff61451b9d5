// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Test helper (for `eth_call` only): whether `target` succeeds when called with exactly `gas_`
/// gas and the ETH sent, so a test can find the least gas a call needs.
contract GasProbe {
    function probe(address target, bytes calldata data, uint256 gas_) external payable returns (bool ok) {
        // solhint-disable-next-line avoid-low-level-calls
        (ok, ) = target.call{value: msg.value, gas: gas_}(data);
    }
}
