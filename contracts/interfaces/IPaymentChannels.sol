// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ChannelKey} from "../libraries/ChannelKey.sol";
import {IThingLedgerErrors} from "./IThingLedgerErrors.sol";

/**
 * @title Merkle-group payment channels
 * @notice An owner deposits ETH or ThingToken for a payee, the Authorization Server (AS), on behalf of a
 * group of client keys committed as a Merkle root. Clients pay the AS off chain with EIP-712 receipts
 * `Receipt(bytes32 channelId,uint256 cumulativeAmount)`; the AS closes with the highest one. One contract
 * covers the three constructions of Fotiou et al. ("Bridging the cyber and physical worlds using
 * blockchains and smart contracts"): (1) the owner is the only client, (2) the owner pays for one client
 * key (delegation), (3) the owner pays for a group. For (1) and (2) the root is the client's leaf and
 * the proof is empty.
 *
 * A channel is named by its payee and its {ChannelKey} (owner, token, clientRoot, salt, openBlock), where
 * `openBlock` is the number of the block that opened it; its id is
 * `keccak256(abi.encode(owner, payee, token, clientRoot, salt, openBlock))`. The key is taken with the
 * caller in its role (the payee for closes, the owner for top-ups and reclaims), so nobody else can act on
 * a channel. A close or reclaim ends the channel, yet an id never recurs: a channel cannot end in its
 * opening block, so any reopening, even with the same parameters, is in a later block and gets a new id,
 * and no receipt signed for the old one is valid for it. (The id depends on the block the open lands in:
 * the AS should serve a channel only once its open is final enough for it. On chains whose
 * `block.number` is the L1 block, a close waits for the next L1 block.)
 *
 * Client leaves are `keccak256(keccak256(abi.encode(client)))`, paired in sorted order. Signatures are
 * EIP-2098 compact (r, vs); high s and a zero-address recovery are rejected.
 */
interface IPaymentChannels is IThingLedgerErrors {
    /// @dev A closed or reclaimed channel reads as None, like one that never existed.
    enum Status {
        None,
        Open
    }

    /// @notice A channel's state, as {getChannel} returns it.
    struct ChannelView {
        Status status;
        uint96 deposit;
        uint40 expiry;
    }

    /**
     * @notice Why {closeBatch} skipped a channel: not open (closed, reclaimed, never opened, or named with
     * wrong parameters), past its expiry, still in its opening block, a receipt above the deposit, a
     * malformed or high-s signature, a signer outside the group.
     */
    enum CloseSkipReason {
        NotOpen,
        Expired,
        OpeningBlock,
        AboveDeposit,
        BadSignature,
        NotInGroup
    }

    /// @notice A close: the channel (the caller is its payee) and the receipt to close it with.
    struct CloseRequest {
        ChannelKey key;
        /// @notice The receipt's cumulative amount: what the payee is paid.
        uint96 amount;
        /// @notice The receipt's EIP-2098 compact signature, by a member of the group.
        bytes32 r;
        bytes32 vs;
        /// @notice The signer's Merkle proof of membership in `key.clientRoot` (empty for a one-client group).
        bytes32[] proof;
    }

    /// @notice A channel was opened.
    /// @param channelId The channel's id.
    /// @param owner Who deposited.
    /// @param payee Who may close it with receipts.
    /// @param token Whether the deposit is ThingToken (true) or ETH (false).
    /// @param deposit The deposit.
    /// @param expiry When the payee's closes end and the owner's reclaim begins (seconds since the epoch).
    /// @param clientRoot The Merkle root of the client group.
    /// @param salt The owner's salt. With the block number of this event, the parameters are the channel's key.
    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed owner,
        address indexed payee,
        bool token,
        uint96 deposit,
        uint40 expiry,
        bytes32 clientRoot,
        uint96 salt
    );

    /// @notice The owner added to a channel's deposit or extended its expiry.
    /// @param channelId The channel's id.
    /// @param deposit The whole deposit now.
    /// @param expiry The expiry now.
    event ChannelToppedUp(bytes32 indexed channelId, uint96 deposit, uint40 expiry);

    /// @notice The payee closed a channel with a receipt.
    /// @param channelId The channel's id.
    /// @param paid What the payee was paid (the receipt's amount).
    /// @param refunded What the owner got back (the rest of the deposit).
    event ChannelClosed(bytes32 indexed channelId, uint96 paid, uint96 refunded);

    /// @notice {closeBatch} left a channel as it was.
    /// @param channelId The id of the channel the request named.
    /// @param reason Why it could not settle.
    event ChannelCloseSkipped(bytes32 indexed channelId, CloseSkipReason reason);

    /// @notice The owner took the deposit of an expired channel back.
    /// @param channelId The channel's id.
    /// @param refunded The whole deposit.
    event ChannelReclaimed(bytes32 indexed channelId, uint96 refunded);

    /// @notice An ETH refund could not be pushed to its owner and waits for {withdrawRefund}.
    /// @param owner The channel owner owed it.
    /// @param amount The amount added to what the owner is owed.
    event RefundOwed(address indexed owner, uint256 amount);

    /// @notice An owner withdrew the ETH refunds it was owed.
    /// @param owner The owner.
    /// @param amount All it was owed.
    event RefundWithdrawn(address indexed owner, uint256 amount);

    /// @notice An open would reuse the id of an open channel (the same parameters in one block).
    /// @param channelId The id.
    error ChannelExists(bytes32 channelId);

    /// @notice No channel with this id is open: closed, reclaimed, never opened, or named with wrong parameters.
    /// @param channelId The id the call named.
    error ChannelNotOpen(bytes32 channelId);

    /// @notice The caller of a top-up or reclaim is not the owner its key names.
    /// @param channelId The id the call named.
    /// @param caller The caller.
    error NotChannelOwner(bytes32 channelId, address caller);

    /// @notice A channel cannot be closed in the block that opened it.
    /// @param channelId The channel's id.
    error CloseInOpeningBlock(bytes32 channelId);

    /// @notice An open without a deposit.
    error ZeroDeposit();

    /// @notice An open whose expiry is not in the future.
    /// @param expiry The expiry asked for.
    error ExpiryInPast(uint40 expiry);

    /// @notice A top-up would shorten the expiry.
    /// @param expiry The expiry asked for.
    /// @param current The channel's expiry.
    error ExpiryNotExtended(uint40 expiry, uint40 current);

    /// @notice A close after the channel's expiry.
    /// @param channelId The channel's id.
    /// @param expiry Its expiry.
    error ChannelExpired(bytes32 channelId, uint40 expiry);

    /// @notice A reclaim before the channel's expiry.
    /// @param channelId The channel's id.
    /// @param expiry Its expiry.
    error ChannelNotExpired(bytes32 channelId, uint40 expiry);

    /// @notice A receipt for more than the channel's deposit.
    /// @param channelId The channel's id.
    /// @param amount The receipt's amount.
    /// @param deposit The deposit.
    error ReceiptAboveDeposit(bytes32 channelId, uint256 amount, uint256 deposit);

    /// @notice A receipt signature that is malformed or high-s (it recovers no signer).
    /// @param channelId The channel's id.
    error InvalidReceiptSignature(bytes32 channelId);

    /// @notice A receipt signer outside the channel's client group (or a wrong proof).
    /// @param channelId The channel's id.
    /// @param client The signer.
    error NotInGroup(bytes32 channelId, address client);

    /// @notice A deposit above 2^96 - 1 (after a top-up, the whole deposit).
    error DepositOverflow();

    /// @notice ETH sent with a token call, or a different amount than the ETH top-up names.
    error UnexpectedEth();

    /// @notice Sending ETH to an account failed.
    /// @param to The account.
    error PaymentFailed(address to);

    /// @notice A refund withdrawal with nothing owed.
    /// @param owner The caller.
    error NothingOwed(address owner);

    /// @notice Opens an ETH channel with `msg.value` as deposit. Returns its id (see {channelId}: the
    /// opening block is part of it).
    function openEth(address payee, uint40 expiry, bytes32 clientRoot, uint96 salt) external payable returns (bytes32);

    /**
     * @notice Opens a ThingToken channel, pulling `deposit` from the owner: in one transaction through the
     * token's `approveAndCall` (which names the real owner), or after `approve`.
     */
    function openToken(
        address payee,
        uint96 deposit,
        uint40 expiry,
        bytes32 clientRoot,
        uint96 salt
    ) external returns (bytes32);

    /// @notice {openToken} authorised by the owner's EIP-2612 permit, in one transaction.
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
    ) external returns (bytes32);

    /**
     * @notice The owner adds `amount` (ETH: `msg.value`) and may extend the expiry (never shorten it). Only
     * the key's owner can.
     */
    function topUp(ChannelKey calldata key, address payee, uint96 amount, uint40 newExpiry) external payable;

    /**
     * @notice The payee closes a channel before its expiry with the highest receipt a group member signed,
     * proving the signer's membership. The payee is paid `amount`, the owner refunded the rest, in the
     * same transaction. Only the payee can: the channel is looked up with the caller as payee (an owner
     * could otherwise close with an old, low receipt). Not in the channel's opening block.
     */
    function close(CloseRequest calldata request) external;

    /**
     * @notice Closes many channels of the caller (the payee), paying it once per asset for the channels
     * that settled. A request that {close} would refuse for the channel's state or its receipt is skipped,
     * with a {ChannelCloseSkipped} event naming the channel and the {CloseSkipReason}; its channel is left
     * untouched (the owner keeps the deposit, the payee may retry, e.g. after the opening block). So one
     * expired, closed or reclaimed channel never blocks the others, and a batch where nothing settles
     * succeeds too, having only emitted its skips (the payee learns every reason at once rather than the
     * first). A request repeated in the batch settles once and is then skipped as not open. The batch
     * still reverts if paying the caller fails ({PaymentFailed}).
     */
    function closeBatch(CloseRequest[] calldata requests) external;

    /// @notice After expiry without a close, the key's owner takes the whole deposit back.
    function reclaim(ChannelKey calldata key, address payee) external;

    /// @notice Sends an ETH refund that could not be pushed (the owner's contract refused it).
    function withdrawRefund() external;

    /// @notice The id of the channel `key` names at `payee`.
    function channelId(ChannelKey calldata key, address payee) external pure returns (bytes32);

    /// @notice A channel's state; a channel that ended or never existed reads as `Status.None` and zeros.
    function getChannel(bytes32 channelId) external view returns (ChannelView memory);

    /// @notice The EIP-712 digest a client signs for `cumulativeAmount` in `channelId`.
    function receiptDigest(bytes32 channelId, uint256 cumulativeAmount) external view returns (bytes32);

    /// @notice The ETH refunds `owner` can take with {withdrawRefund}.
    function refundOwed(address owner) external view returns (uint256);

    /// @notice The ThingToken: the token asset.
    function token() external view returns (address);
}
