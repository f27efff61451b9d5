// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {IERC827Refuser} from "../interfaces/IERC827Refuser.sol";
import {IPaymentChannels} from "../interfaces/IPaymentChannels.sol";
import {ChannelKey, ChannelKeyLibrary} from "../libraries/ChannelKey.sol";
import {ChannelState, ChannelStateLibrary} from "../libraries/ChannelState.sol";
import {CompactSignature} from "../libraries/CompactSignature.sol";
import {Permit} from "../libraries/Permit.sol";
import {GroupLeaf} from "../libraries/GroupLeaf.sol";

/// @title Merkle-group payment channels
/// @notice See {IPaymentChannels}.
/// @dev Only a channel's state (deposit, expiry, status) is stored, packed in one {ChannelState} word; the
/// key lives in the id and the {ChannelOpened} event. A close or reclaim clears the word (and earns the
/// storage refund): safe because an id includes its opening block and never recurs. Client leaves are
/// hashed twice so a leaf's preimage is 32 bytes and an internal node's 64: no node passes for a leaf.
contract PaymentChannels is IPaymentChannels, IERC827Refuser, EIP712, ERC2771Context {
    using SafeERC20 for IERC20;

    bytes32 private constant _RECEIPT_TYPEHASH = keccak256("Receipt(bytes32 channelId,uint256 cumulativeAmount)");

    IERC20 private immutable _token;

    mapping(bytes32 channelId => ChannelState state) private _channels;
    mapping(address owner => uint256 amount) private _refundsOwed;

    /// @param token_ The ThingToken: the token asset, and the trusted forwarder for `approveAndCall` opens.
    constructor(IERC20 token_) EIP712("ThingLedger PaymentChannels", "1") ERC2771Context(address(token_)) {
        _token = token_;
    }

    // ---------------------------------------------------------------- open

    /// @inheritdoc IPaymentChannels
    function openEth(address payee, uint40 expiry, bytes32 clientRoot, uint96 salt) external payable returns (bytes32) {
        if (msg.value > type(uint96).max) revert DepositOverflow();
        return _open(_msgSender(), payee, false, uint96(msg.value), expiry, clientRoot, salt);
    }

    /// @inheritdoc IPaymentChannels
    function openToken(
        address payee,
        uint96 deposit,
        uint40 expiry,
        bytes32 clientRoot,
        uint96 salt
    ) public returns (bytes32 id) {
        address owner = _msgSender();
        id = _open(owner, payee, true, deposit, expiry, clientRoot, salt);
        _token.safeTransferFrom(owner, address(this), deposit);
    }

    /// @inheritdoc IPaymentChannels
    function openTokenWithPermit(
        address payee,
        uint96 deposit,
        uint40 expiry,
        bytes32 clientRoot,
        uint96 salt,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external returns (bytes32) {
        Permit.tryPermit(IERC20Permit(address(_token)), _msgSender(), address(this), deposit, permitDeadline, v, r, s);
        return openToken(payee, deposit, expiry, clientRoot, salt);
    }

    /// @inheritdoc IPaymentChannels
    function topUp(ChannelKey calldata key, address payee, uint96 amount, uint40 newExpiry) external payable {
        bytes32 id = _ownersChannel(key, payee);
        ChannelState state = _requireOpen(id);
        if (newExpiry < state.expiry()) revert ExpiryNotExtended(newExpiry, state.expiry());
        bool token_ = key.token;
        if (token_ ? msg.value != 0 : msg.value != amount) revert UnexpectedEth();
        uint256 deposit = uint256(state.deposit()) + amount;
        if (deposit > type(uint96).max) revert DepositOverflow();
        // Fits: checked just above.
        _channels[id] = ChannelStateLibrary.pack(uint96(deposit), newExpiry, Status.Open);
        emit ChannelToppedUp(id, uint96(deposit), newExpiry);
        if (token_) _token.safeTransferFrom(key.owner, address(this), amount);
    }

    // ---------------------------------------------------------------- close

    /// @inheritdoc IPaymentChannels
    function close(CloseRequest calldata request) external {
        (, uint96 amount, uint96 refund) = _settle(request, false);
        address owner = request.key.owner;
        if (request.key.token) {
            if (amount != 0) _token.safeTransfer(msg.sender, amount);
            if (refund != 0) _token.safeTransfer(owner, refund);
        } else {
            if (amount != 0) _sendEth(msg.sender, amount);
            if (refund != 0) _refundEth(owner, refund);
        }
    }

    /// @inheritdoc IPaymentChannels
    function closeBatch(CloseRequest[] calldata requests) external {
        uint256 ethTotal;
        uint256 tokenTotal;
        for (uint256 i; i < requests.length; ++i) {
            CloseRequest calldata q = requests[i];
            (bool settled, uint96 amount, uint96 refund) = _settle(q, true);
            if (!settled) continue;
            // Cannot overflow: each amount is at most its channel's uint96 deposit, all held by this contract.
            unchecked {
                if (q.key.token) {
                    tokenTotal += amount;
                    if (refund != 0) _token.safeTransfer(q.key.owner, refund);
                } else {
                    ethTotal += amount;
                    if (refund != 0) _refundEth(q.key.owner, refund);
                }
            }
        }
        if (tokenTotal != 0) _token.safeTransfer(msg.sender, tokenTotal);
        if (ethTotal != 0) _sendEth(msg.sender, ethTotal);
    }

    /// @inheritdoc IPaymentChannels
    function reclaim(ChannelKey calldata key, address payee) external {
        bytes32 id = _ownersChannel(key, payee);
        ChannelState state = _requireOpen(id);
        if (block.timestamp <= state.expiry()) revert ChannelNotExpired(id, state.expiry());
        _channels[id] = ChannelState.wrap(0);
        // Never zero: opens refuse a zero deposit and top-ups only add.
        uint96 deposit = state.deposit();
        emit ChannelReclaimed(id, deposit);
        if (key.token) _token.safeTransfer(key.owner, deposit);
        else _sendEth(key.owner, deposit);
    }

    /// @inheritdoc IPaymentChannels
    function withdrawRefund() external {
        address owner = _msgSender();
        uint256 amount = _refundsOwed[owner];
        if (amount == 0) revert NothingOwed(owner);
        _refundsOwed[owner] = 0;
        emit RefundWithdrawn(owner, amount);
        _sendEth(owner, amount);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IPaymentChannels
    function channelId(ChannelKey calldata key, address payee) external pure returns (bytes32) {
        return key.toId(payee);
    }

    /// @inheritdoc IPaymentChannels
    function getChannel(bytes32 id) external view returns (ChannelView memory) {
        ChannelState state = _channels[id];
        return ChannelView(state.status(), state.deposit(), state.expiry());
    }

    /// @inheritdoc IPaymentChannels
    function receiptDigest(bytes32 id, uint256 cumulativeAmount) public view returns (bytes32) {
        bytes32 typehash = _RECEIPT_TYPEHASH;
        bytes32 structHash;
        // keccak256(abi.encode(_RECEIPT_TYPEHASH, id, cumulativeAmount)), in the free memory without moving
        // its pointer.
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            mstore(add(m, 0x20), id)
            mstore(add(m, 0x40), cumulativeAmount)
            structHash := keccak256(m, 0x60)
        }
        return _hashTypedDataV4(structHash);
    }

    /// @inheritdoc IPaymentChannels
    function refundOwed(address owner) external view returns (uint256) {
        return _refundsOwed[owner];
    }

    /// @inheritdoc IPaymentChannels
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IERC827Refuser
    /// @dev Deposits are pulled (approveAndCall, approve, permit); tokens pushed at this contract with
    /// transferAndCall would belong to no channel.
    function refusesTransfersAndCall() external pure returns (bytes4) {
        return IERC827Refuser.refusesTransfersAndCall.selector;
    }

    // ---------------------------------------------------------------- internal

    /// @dev The id of a channel whose owner must be the caller (top-ups, reclaims).
    function _ownersChannel(ChannelKey calldata key, address payee) private view returns (bytes32 id) {
        id = key.toId(payee);
        if (key.owner != _msgSender()) revert NotChannelOwner(id, _msgSender());
    }

    function _open(
        address owner,
        address payee,
        bool token_,
        uint96 deposit,
        uint40 expiry,
        bytes32 clientRoot,
        uint96 salt
    ) private returns (bytes32 id) {
        if (deposit == 0) revert ZeroDeposit();
        if (payee == address(0)) revert ZeroAddress();
        if (expiry <= block.timestamp) revert ExpiryInPast(expiry);
        // block.number fits: 2^64 blocks is far beyond any chain's life.
        id = ChannelKeyLibrary.id(owner, payee, token_, clientRoot, salt, uint64(block.number));
        if (!_channels[id].isEmpty()) revert ChannelExists(id);
        _channels[id] = ChannelStateLibrary.pack(deposit, expiry, Status.Open);
        emit ChannelOpened(id, owner, payee, token_, deposit, expiry, clientRoot, salt);
    }

    function _requireOpen(bytes32 id) private view returns (ChannelState state) {
        state = _channels[id];
        if (state.status() != Status.Open) revert ChannelNotOpen(id);
    }

    /// @dev Checks the receipt and the signer's membership, marks the channel closed, and returns the
    /// amount the payee is paid and the owner's refund. The caller is the payee: the id is computed with
    /// it. A check that fails reverts with its error, or, when `skip` (batch closes), emits
    /// {ChannelCloseSkipped} and returns unsettled with the channel untouched.
    function _settle(CloseRequest calldata q, bool skip) private returns (bool settled, uint96 amount, uint96 refund) {
        bytes32 id = q.key.toId(msg.sender);
        ChannelState state = _channels[id];
        if (state.status() != Status.Open) {
            if (skip) return _skipped(id, CloseSkipReason.NotOpen);
            revert ChannelNotOpen(id);
        }
        // The slot is cleared below; a close in the opening block would let the same id be opened again.
        if (block.number <= q.key.openBlock) {
            if (skip) return _skipped(id, CloseSkipReason.OpeningBlock);
            revert CloseInOpeningBlock(id);
        }
        if (block.timestamp > state.expiry()) {
            if (skip) return _skipped(id, CloseSkipReason.Expired);
            revert ChannelExpired(id, state.expiry());
        }
        uint96 deposit = state.deposit();
        amount = q.amount;
        if (amount > deposit) {
            if (skip) return _skipped(id, CloseSkipReason.AboveDeposit);
            revert ReceiptAboveDeposit(id, amount, deposit);
        }
        address client = CompactSignature.recover(receiptDigest(id, amount), q.r, q.vs);
        if (client == address(0)) {
            if (skip) return _skipped(id, CloseSkipReason.BadSignature);
            revert InvalidReceiptSignature(id);
        }
        if (!GroupLeaf.verify(q.proof, q.key.clientRoot, client)) {
            if (skip) return _skipped(id, CloseSkipReason.NotInGroup);
            revert NotInGroup(id, client);
        }
        _channels[id] = ChannelState.wrap(0);
        // Cannot underflow: amount <= deposit, checked above.
        unchecked {
            refund = deposit - amount;
        }
        emit ChannelClosed(id, amount, refund);
        return (true, amount, refund);
    }

    /// @dev A batch request that cannot settle: named in an event, nothing else happens.
    function _skipped(bytes32 id, CloseSkipReason reason) private returns (bool settled, uint96 amount, uint96 refund) {
        emit ChannelCloseSkipped(id, reason);
        return (false, 0, 0);
    }

    /// @dev Sends with all gas and copies no return data (a payee's contract cannot make the copy costly).
    function _sendEth(address to, uint256 amount) private {
        bool ok;
        assembly ("memory-safe") {
            ok := call(gas(), to, amount, 0, 0, 0, 0)
        }
        if (!ok) revert PaymentFailed(to);
    }

    /// @dev An owner's contract that refuses ETH (or burns gas) must not block the payee's close: the refund
    /// is pushed with the 2,300-gas stipend only, and kept for {withdrawRefund} if it fails.
    function _refundEth(address owner, uint256 amount) private {
        if (!payable(owner).send(amount)) {
            // Safe after the send: it forwards 2,300 gas, too little to re-enter with a state change, and
            // the channel is already closed.
            // solhint-disable-next-line reentrancy
            _refundsOwed[owner] += amount;
            emit RefundOwed(owner, amount);
        }
    }
}
