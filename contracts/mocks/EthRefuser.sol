// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IPaymentChannels} from "../interfaces/IPaymentChannels.sol";
import {ChannelKey} from "../libraries/ChannelKey.sol";

/// @notice A channel owner whose contract refuses ETH until told otherwise: its refund must not block the
/// payee's close.
contract EthRefuser {
    bool public accepting;

    function open(
        IPaymentChannels channels,
        address payee,
        uint40 expiry,
        bytes32 clientRoot,
        uint96 salt
    ) external payable returns (bytes32) {
        return channels.openEth{value: msg.value}(payee, expiry, clientRoot, salt);
    }

    function reclaim(
        IPaymentChannels channels,
        address payee,
        bytes32 clientRoot,
        uint96 salt,
        uint64 openBlock
    ) external {
        channels.reclaim(ChannelKey(address(this), false, clientRoot, salt, openBlock), payee);
    }

    function withdraw(IPaymentChannels channels) external {
        accepting = true;
        channels.withdrawRefund();
    }

    receive() external payable {
        require(accepting, "refusing ETH"); // solhint-disable-line gas-custom-errors
    }
}
