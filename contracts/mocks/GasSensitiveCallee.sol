// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Attack helper: a callee that succeeds only with enough gas, in the two ways a starved call can
/// fail. {burn} runs out of gas (it uses everything it was given); {check} looks at `gasleft()` and reverts
/// early, handing most of its gas back, which a caller cannot tell from an ordinary failure by the gas left.
contract GasSensitiveCallee {
    event Ran(bytes32 hash, uint256 value);

    error TooLittleGas(uint256 available, uint256 needed);

    /// @notice Successful runs so far.
    uint256 public runs;
    /// @notice ETH received by successful runs.
    uint256 public received;
    /// @dev Never written: {burn} reads it to spend gas.
    mapping(uint256 index => uint256 value) private _unused;

    /// @notice Reads `rounds` cold storage slots (2,100 gas each), then records a run. `blob` only makes the
    /// call's data long.
    function burn(uint256 rounds, bytes calldata blob) external payable {
        bytes32 h = keccak256(blob);
        for (uint256 i; i < rounds; ++i) h ^= bytes32(_unused[i]);
        _record(h);
    }

    /// @notice Records a run if at least `minimum` gas is left on entry; reverts at once otherwise.
    function check(uint256 minimum, bytes calldata blob) external payable {
        uint256 left = gasleft();
        if (left < minimum) revert TooLittleGas(left, minimum);
        _record(keccak256(blob));
    }

    function _record(bytes32 h) private {
        // Cannot overflow: one run per transaction, and msg.value is bounded by the ETH supply.
        unchecked {
            ++runs;
            received += msg.value;
        }
        // The hash is logged so the optimizer cannot drop the work.
        emit Ran(h, msg.value);
    }
}
