// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

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
 * A channel is named by `channelId = keccak256(abi.encode(owner, payee, token, clientRoot, salt, openBlock))`,
 * where `openBlock` is the number of the block that opened it, and only its state (deposit, expiry,
 * status) is stored: one slot. The id is looked up with the caller in its role (the payee for closes,
 * the owner for top-ups and reclaims), so nobody else can act on it. A close or reclaim clears the slot
 * (and earns the storage refund), yet an id never recurs: a channel cannot end in its opening block, so
 * any reopening, even with the same parameters, is in a later block and gets a new id, and no receipt
 * signed for the old one is valid for it. (The id depends on the block the open lands in: the AS should
 * serve a channel only once its open is final enough for it. On chains whose `block.number` is the L1
 * block, a close waits for the next L1 block.)
 *
 * Client leaves are `keccak256(keccak256(abi.encode(client)))`: a 32-byte preimage, where an internal
 * node has 64, so no node can pass as a leaf. Signatures are EIP-2098 compact (r, vs); high s and a
 * zero-address recovery are rejected.
 */
interface IPaymentChannels {
    /// @dev A closed or reclaimed channel reads as None, like one that never existed.
    enum Status {
        None,
        Open
    }

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

    /// @notice One channel of a batch close, from the payee's side.
    struct CloseRequest {
        address owner;
        bool token;
        bytes32 clientRoot;
        uint96 salt;
        uint64 openBlock;
        uint96 amount;
        bytes32 r;
        bytes32 vs;
        bytes32[] proof;
    }

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
    event ChannelToppedUp(bytes32 indexed channelId, uint96 deposit, uint40 expiry);
    event ChannelClosed(bytes32 indexed channelId, uint96 paid, uint96 refunded);
    /// @notice {closeBatch} left channel `channelId` as it was, for `reason`.
    event ChannelCloseSkipped(bytes32 indexed channelId, CloseSkipReason reason);
    event ChannelReclaimed(bytes32 indexed channelId, uint96 refunded);
    event RefundOwed(address indexed owner, uint256 amount);
    event RefundWithdrawn(address indexed owner, uint256 amount);

    error ChannelExists(bytes32 channelId);
    error ChannelNotOpen(bytes32 channelId);
    error CloseInOpeningBlock(bytes32 channelId);
    error ZeroDeposit();
    error ZeroAddress();
    error ExpiryInPast(uint40 expiry);
    error ExpiryNotExtended(uint40 expiry, uint40 current);
    error ChannelExpired(bytes32 channelId, uint40 expiry);
    error ChannelNotExpired(bytes32 channelId, uint40 expiry);
    error ReceiptAboveDeposit(bytes32 channelId, uint256 amount, uint256 deposit);
    error InvalidReceiptSignature(bytes32 channelId);
    error NotInGroup(bytes32 channelId, address client);
    error DepositOverflow();
    error UnexpectedEth();
    error PaymentFailed(address to);
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

    /// @notice The owner adds `amount` (ETH: `msg.value`) and may extend the expiry (never shorten it).
    function topUp(
        address payee,
        bool token,
        bytes32 clientRoot,
        uint96 salt,
        uint64 openBlock,
        uint96 amount,
        uint40 newExpiry
    ) external payable;

    /**
     * @notice The payee closes a channel before its expiry with the highest receipt a group member signed,
     * proving the signer's membership. The payee is paid `amount`, the owner refunded the rest, in the
     * same transaction. Only the payee can: the channel is looked up with the caller as payee (an owner
     * could otherwise close with an old, low receipt). Not in the channel's opening block.
     */
    function close(
        address owner,
        bool token,
        bytes32 clientRoot,
        uint96 salt,
        uint64 openBlock,
        uint96 amount,
        bytes32 r,
        bytes32 vs,
        bytes32[] calldata proof
    ) external;

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

    /// @notice After expiry without a close, the owner takes the whole deposit back.
    function reclaim(address payee, bool token, bytes32 clientRoot, uint96 salt, uint64 openBlock) external;

    /// @notice Sends an ETH refund that could not be pushed (the owner's contract refused it).
    function withdrawRefund() external;

    function channelId(
        address owner,
        address payee,
        bool token,
        bytes32 clientRoot,
        uint96 salt,
        uint64 openBlock
    ) external pure returns (bytes32);

    function getChannel(bytes32 channelId) external view returns (ChannelView memory);

    /// @notice The EIP-712 digest a client signs for `cumulativeAmount` in `channelId`.
    function receiptDigest(bytes32 channelId, uint256 cumulativeAmount) external view returns (bytes32);

    function refundOwed(address owner) external view returns (uint256);

    function token() external view returns (address);
}
