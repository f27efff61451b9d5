/**
 * The model of the whole system and the invariants checked after every step of the model-based test.
 *
 * The model holds what every tracked account should hold (THING and ETH), what every contract owes,
 * every device's manufacturer, status, owner and key, every channel and the wallet's state. A command
 * builds a {@link Plan}: the one transaction it sends, whether that must succeed, must fail or may do
 * either (where the issue's fixes leave the choice open), the consents it carries (who agreed to lose
 * how much), and the model's update if it succeeds. {@link step} sends it and checks:
 *
 * 1. consent: every decrease of an account's THING or ETH (gas aside, the sender's own) is covered by a
 *    consent of that account in this step: its own transaction up to the amount it names, a permit it
 *    signed, an allowance it gave to that (non-system) spender, an execution its owners signed, a device
 *    spend within the limit, a close or withdrawal of what a contract owes. A standing allowance to a
 *    system contract is consent only to calls its holder makes;
 * 2. outcome: the transaction succeeded or failed as the plan requires;
 * 3. balances: every tracked account holds exactly what the model says;
 * 4. solvency: the registry holds exactly the manufacturers' credit plus fees collected minus rewards
 *    paid (its pool, reserved rewards and fees paid from credit not yet collected together), and no auditor earned more than the reward for the
 *    scores it changed, nor in one epoch more than min(its cap, the reports it committed) rewards; the channels hold exactly the open deposits; the wallet's nonce is the model's;
 * 5. records: every device's status, manufacturer, owner, key and score, and every touched channel,
 *    are the model's: a device id maps to the manufacturer that legitimately made it.
 *
 * Replays (the fourth invariant of issue 14) are commands: they re-send an accepted signed message and
 * must fail with every balance unchanged; a replayed closeBatch is not refused (the batch skips what it
 * cannot settle) but must skip every channel, settle none and move nothing.
 */
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { TransactionReceipt, TransactionResponse } from "ethers";
import { MaxUint256, ZeroAddress, getAddress } from "ethers";
import { ethers } from "hardhat";

import { AUDIT_REWARD, ETH_LIMIT, EPOCH_LENGTH, TOKEN_LIMIT, WALLET_PERIOD } from "../shared/fixtures";
import { POOL, WHITELIST_UIDS, channelIdOf, deviceIdOf, keyOf, receiptSig } from "./driver";
import type { System } from "./driver";

export type Asset = "THING" | "ETH";
export const STATUS = { Unknown: 0, Registered: 1, Active: 2, Revoked: 3 } as const;
export type Status = keyof typeof STATUS;

export interface DeviceM {
  id: string;
  uid: string;
  /** Index into `System.makers` of the manufacturer that legitimately registered it. */
  maker: number;
  status: Status;
  owner: string;
  key: string;
  keyLabel: string;
  keyNonce: bigint;
  /** Index of the whitelist it was registered from. */
  root?: number;
  rep?: { score: number; trend: number; epoch: bigint };
}

export interface ChannelM {
  id: string;
  owner: string;
  payee: string;
  token: boolean;
  group: number;
  salt: bigint;
  openBlock: bigint;
  deposit: bigint;
  expiry: bigint;
  open: boolean;
  best?: { amount: bigint; client: number; sig: [string, string] };
}

export interface WindowM {
  limit: bigint;
  idx: bigint;
  cur: bigint;
  prev: bigint;
  nonce: bigint;
}

export interface Replay {
  label: string;
  send: () => Promise<TransactionResponse>;
  /** A batch close: its replay is not refused but settles nothing, skipping each of these channels. */
  skips?: string[];
}

/** An auditor: what it may be paid for, and the bound on its rewards in the epoch it last scored in. */
export interface AuditorM {
  active: boolean;
  /** Scores it changed, ever. */
  changes: bigint;
  withdrawn: bigint;
  /** Its per-epoch reward cap (changed scores). */
  cap: bigint;
  /** Rewards it ever earned (earned + withdrawn), as of the last step. */
  total: bigint;
  /** The epoch of its last accepted submission, its `total` before that epoch's first one, and the most
   * rewarded changes that epoch allows: the largest min(cap, reportCount) among the epoch's submissions. */
  boundEpoch?: bigint;
  boundStart: bigint;
  boundMax: bigint;
}

/** A new auditor's per-epoch reward cap (DeviceReputation.DEFAULT_EPOCH_REWARDS). */
export const DEFAULT_EPOCH_REWARDS = 1_000n;

export interface Model {
  now: bigint;
  balances: Map<string, Record<Asset, bigint>>;
  allowances: Map<string, bigint>;
  permitNonces: Map<string, bigint>;
  fees: { reg: bigint; act: bigint };
  /** The activation fee before the last change: what a user who signed before it consents to. */
  prevAct: bigint;
  /** `pending`: the account proposed to take the manufacturer over (zero: none). */
  makers: { active: boolean; credit: bigint; payout: string; pending: string }[];
  devices: Map<string, DeviceM>;
  whitelists: { committed: boolean; capacity: number; used: number; actFee: bigint }[];
  feesCollected: bigint;
  rewardsWithdrawn: bigint;
  /** Victims (manufacturer indexes) whose root the other manufacturer committed under its own id. */
  rootSquats: Set<number>;
  auditors: Map<string, AuditorM>;
  channels: ChannelM[];
  wallet: {
    nonce: bigint;
    key: string;
    frozen: boolean;
    windows: Record<string, WindowM>;
  };
  accepted: Replay[];
}

export interface Real {
  sys: System;
  tracked: string[];
  /** Who each tracked address is, for failure messages. */
  names: Map<string, string>;
  actual: Map<string, Record<Asset, bigint>>;
}

export interface Consent {
  account: string;
  asset: Asset;
  max: bigint;
  why: string;
}

export interface Plan {
  expect: "ok" | "fail" | "either";
  /** Why it must succeed or fail, for the failure message. */
  why: string;
  consents?: Consent[];
  send: () => Promise<TransactionResponse>;
  effects?: (m: Model, rc: TransactionReceipt) => void;
  devices?: string[];
  channels?: ChannelM[];
  /** Further checks once the model is updated (e.g. an execution's inner result). */
  post?: (m: Model, r: Real, rc: TransactionReceipt | undefined) => Promise<void>;
}

/** Counters over the whole test, for the report. */
export const stats = { runs: 0, steps: 0, sent: 0, accepted: 0, refused: 0, byCommand: new Map<string, number>() };

// ---------------------------------------------------------------- model helpers

export const key2 = (owner: string, spender: string): string => `${owner}>${spender}`;

export function bal(m: Model, account: string): Record<Asset, bigint> {
  let b = m.balances.get(account);
  if (b === undefined) {
    b = { THING: 0n, ETH: 0n };
    m.balances.set(account, b);
  }
  return b;
}

export function move(m: Model, asset: Asset, from: string, to: string, amount: bigint): void {
  bal(m, from)[asset] -= amount;
  bal(m, to)[asset] += amount;
}

export function allowanceOf(m: Model, owner: string, spender: string): bigint {
  return m.allowances.get(key2(owner, spender)) ?? 0n;
}

/** Whether `spender` can pull `amount` THING from `owner` (allowance and balance). */
export function canPull(m: Model, owner: string, spender: string, amount: bigint): boolean {
  if (amount === 0n) return true;
  return allowanceOf(m, owner, spender) >= amount && bal(m, owner).THING >= amount;
}

/** `spender` pulls `amount` THING from `owner` to `to`, spending the allowance (an infinite one stays). */
export function pull(m: Model, owner: string, spender: string, to: string, amount: bigint): void {
  if (amount === 0n) return;
  const a = allowanceOf(m, owner, spender);
  if (a !== MaxUint256) m.allowances.set(key2(owner, spender), a - amount);
  move(m, "THING", owner, to, amount);
}

export function epochOf(now: bigint): bigint {
  return now / EPOCH_LENGTH;
}

/** SpendWindow as the wallet computes it: (spent this period, spent last period) at `idx`. */
export function spentAt(w: WindowM, idx: bigint): [bigint, bigint] {
  const elapsed = idx - w.idx;
  if (elapsed === 0n) return [w.cur, w.prev];
  if (elapsed === 1n) return [0n, w.cur];
  return [0n, 0n];
}

export function availableAt(w: WindowM, idx: bigint): bigint {
  const [c, p] = spentAt(w, idx);
  return c + p >= w.limit ? 0n : w.limit - c - p;
}

export function periodOf(now: bigint): bigint {
  return now / WALLET_PERIOD;
}

// ---------------------------------------------------------------- the initial model

export async function readBalances(r: Real): Promise<Map<string, Record<Asset, bigint>>> {
  const { token } = r.sys;
  const values = await Promise.all(
    r.tracked.flatMap((a) => [token.balanceOf(a), ethers.provider.getBalance(a)] as Promise<bigint>[]),
  );
  const out = new Map<string, Record<Asset, bigint>>();
  r.tracked.forEach((a, i) => out.set(a, { THING: values[2 * i], ETH: values[2 * i + 1] }));
  return out;
}

/** The model of the fixture's state, and the real side with its first balance reading. */
export async function initialState(sys: System): Promise<{ model: Model; real: Real }> {
  const signers = await ethers.getSigners();
  const tracked = [
    ...signers.map((s) => s.address),
    await sys.registry.getAddress(),
    await sys.channels.getAddress(),
    await sys.wallet.getAddress(),
  ].map((a) => getAddress(a));
  const roles: [string, { address: string }][] = [
    ["treasury", sys.treasury],
    ["alice", sys.alice],
    ["bob", sys.bob],
    ["carol", sys.carol],
    ["mallory", sys.mallory],
    ["admin", sys.admin],
    ["manufacturer A", sys.makers[0].account],
    ["A's payout", sys.makers[0].payout],
    ["manufacturer B", sys.makers[1].account],
    ["B's payout", sys.makers[1].payout],
    ["relayer", sys.relayer],
    ["auditor", sys.auditor],
    ["rogue auditor", sys.rogueAuditor],
    ["AS", sys.server],
    ["rogue AS", sys.rogueServer],
    ["owner 1", sys.walletOwners[0]],
    ["owner 2", sys.walletOwners[1]],
    ["owner 3", sys.walletOwners[2]],
    ["device key 0", sys.walletKeys[0]],
    ["device key 1", sys.walletKeys[1]],
    ["registry", { address: await sys.registry.getAddress() }],
    ["channels", { address: await sys.channels.getAddress() }],
    ["wallet", { address: await sys.wallet.getAddress() }],
  ];
  const names = new Map(roles.map(([n, x]) => [getAddress(x.address), n]));
  const real: Real = { sys, tracked, names, actual: new Map() };
  real.actual = await readBalances(real);
  const registry = await sys.registry.getAddress();
  const channels = await sys.channels.getAddress();
  const allowances = new Map<string, bigint>([
    [key2(sys.alice.address, registry), MaxUint256],
    [key2(sys.makers[0].account.address, registry), MaxUint256],
    [key2(sys.makers[1].account.address, registry), MaxUint256],
    [key2(sys.carol.address, channels), MaxUint256],
  ]);
  const makers = [];
  for (const mk of sys.makers) {
    const v = await sys.registry.getManufacturer(mk.account.address);
    makers.push({ active: v.active, credit: v.credit, payout: v.payout, pending: ZeroAddress });
  }
  const credits = makers.reduce((a, mk) => a + mk.credit, 0n);
  const devices = new Map<string, DeviceM>();
  const add = (uid: string, status: Status, owner: string, key = keyOf(uid).address, label = uid, maker = 0): void => {
    const id = deviceIdOf(maker + 1, uid);
    devices.set(id, { id, uid, maker, status, owner, key, keyLabel: label, keyNonce: 0n });
  };
  add("A-0", "Active", sys.bob.address);
  add("A-1", "Active", sys.bob.address);
  add("A-2", "Registered", ZeroAddress);
  add("A-W", "Active", getAddress(await sys.wallet.getAddress()), sys.walletKeys[0].address, "wallet-key-0");
  add("B-0", "Registered", ZeroAddress, keyOf("B-0").address, "B-0", 1);
  add("A-WL-0", "Registered", ZeroAddress);
  devices.get(deviceIdOf(1, "A-WL-0"))!.root = 0;
  const fees = { reg: await sys.registry.registrationFee(), act: await sys.registry.activationFee() };
  const token = await sys.token.getAddress();
  const model: Model = {
    now: BigInt(await time.latest()),
    balances: new Map([...real.actual].map(([a, b]) => [a, { ...b }])),
    allowances,
    permitNonces: new Map(),
    fees,
    prevAct: fees.act,
    makers,
    devices,
    whitelists: WHITELIST_UIDS.map((uids, i) =>
      i === 0
        ? { committed: true, capacity: uids.length, used: 1, actFee: fees.act }
        : { committed: false, capacity: 0, used: 0, actFee: 0n },
    ),
    feesCollected: real.actual.get(getAddress(registry))!.THING - credits,
    rewardsWithdrawn: 0n,
    rootSquats: new Set(),
    auditors: new Map(
      [sys.auditor.address, sys.rogueAuditor.address].map((x) => [
        x,
        {
          active: true,
          changes: 0n,
          withdrawn: 0n,
          cap: DEFAULT_EPOCH_REWARDS,
          total: 0n,
          boundStart: 0n,
          boundMax: 0n,
        },
      ]),
    ),
    channels: [],
    wallet: {
      nonce: 0n,
      key: sys.walletKeys[0].address,
      frozen: false,
      windows: {
        [ZeroAddress]: { limit: ETH_LIMIT, idx: 0n, cur: 0n, prev: 0n, nonce: 0n },
        [getAddress(token)]: { limit: TOKEN_LIMIT, idx: 0n, cur: 0n, prev: 0n, nonce: 0n },
      },
    },
    accepted: [],
  };
  for (const c of sys.initialChannels) {
    const id = channelIdOf(c.owner, c.payee, c.token, sys.groups[0].root, c.salt, c.openBlock);
    const amount = c.deposit / 4n;
    const sig = await receiptSig(sys, sys.clients[0], id, amount);
    model.channels.push({ ...c, id, group: 0, open: true, best: { amount, client: 0, sig } });
  }
  return { model, real };
}

// ---------------------------------------------------------------- one step

function isRevert(e: unknown): boolean {
  const msg = e instanceof Error ? e.message : String(e);
  return /revert|VM Exception|CALL_EXCEPTION|insufficient funds/i.test(msg);
}

function fmt(asset: Asset, v: bigint): string {
  return `${ethers.formatUnits(v, 18)} ${asset}`;
}

/** Sends a command's transaction at the next second and checks every invariant. */
export async function step(name: string, m: Model, r: Real, build: () => Promise<Plan>): Promise<void> {
  m.now += 1n;
  const plan = await build();
  stats.steps += 1;
  stats.sent += 1;
  stats.byCommand.set(name, (stats.byCommand.get(name) ?? 0) + 1);
  await time.setNextBlockTimestamp(m.now);
  let rc: TransactionReceipt | undefined;
  // Hardhat mines a reverting transaction (its sender pays the gas) and throws with its hash.
  let gasPaid: TransactionReceipt | null | undefined;
  let error: unknown;
  try {
    const tx = await plan.send();
    rc = (await tx.wait())!;
    gasPaid = rc;
  } catch (e) {
    if (!isRevert(e)) throw e;
    error = e;
    const hash = (e as { transactionHash?: string }).transactionHash;
    if (hash !== undefined) gasPaid = await ethers.provider.getTransactionReceipt(hash);
  }
  if (rc !== undefined) stats.accepted += 1;
  else stats.refused += 1;
  const after = await readBalances(r);

  // 1. Consent: every decrease is covered by a consent of the account that lost it.
  for (const account of r.tracked) {
    for (const asset of ["THING", "ETH"] as Asset[]) {
      let delta = after.get(account)![asset] - r.actual.get(account)![asset];
      if (asset === "ETH" && gasPaid && getAddress(gasPaid.from) === account) delta += gasPaid.fee;
      if (delta >= 0n) continue;
      const consents = (plan.consents ?? []).filter((c) => c.account === account && c.asset === asset);
      const allowed = consents.reduce((a, c) => a + c.max, 0n);
      expect(
        -delta <= allowed,
        `${name}: ${r.names.get(account) ?? account} lost ${fmt(asset, -delta)} but consented to ${fmt(asset, allowed)}` +
          (consents.length > 0 ? ` (${consents.map((c) => c.why).join("; ")})` : " (no consent at all)"),
      ).to.equal(true);
    }
  }

  // 2. Outcome.
  if (plan.expect === "ok" && rc === undefined) {
    expect.fail(`${name}: must succeed (${plan.why}) but reverted: ${(error as Error).message.split("\n")[0]}`);
  }
  if (plan.expect === "fail" && rc !== undefined) {
    expect.fail(`${name}: accepted although it must be refused (${plan.why})`);
  }
  if (gasPaid) bal(m, getAddress(gasPaid.from)).ETH -= gasPaid.fee;
  if (rc !== undefined) plan.effects?.(m, rc);

  // 3. Balances.
  for (const account of r.tracked) {
    const want = bal(m, account);
    const got = after.get(account)!;
    const who = r.names.get(account) ?? account;
    expect(got.THING, `${name}: THING of ${who} (actual, model)`).to.equal(want.THING);
    expect(got.ETH, `${name}: ETH of ${who} (actual, model)`).to.equal(want.ETH);
  }
  r.actual = after;

  await checkSystem(name, m, r, plan);
  await plan.post?.(m, r, rc);
}

/** An off-chain step (signing, waiting): nothing on chain may change. */
export function offChain(): void {
  stats.steps += 1;
}

// ---------------------------------------------------------------- system invariants

async function checkSystem(name: string, m: Model, r: Real, plan: Plan): Promise<void> {
  const { sys } = r;
  const registry = getAddress(await sys.registry.getAddress());
  const channels = getAddress(await sys.channels.getAddress());

  // Registry: balance = credit + (pool + reserved rewards) = credit + fees - rewards paid.
  const credits = m.makers.reduce((a, mk) => a + mk.credit, 0n);
  expect(r.actual.get(registry)!.THING, `${name}: registry balance = credit + fees - rewards paid`).to.equal(
    credits + m.feesCollected - m.rewardsWithdrawn,
  );
  const [pool, reserved, ...rest] = await Promise.all([
    sys.registry.rewardPool(),
    sys.registry.rewardsReserved(),
    ...sys.makers.map((mk) => sys.registry.getManufacturer(mk.account.address)),
    ...sys.makers.map((mk) => sys.registry.pendingManufacturerAccount(mk.id)),
    ...[...m.auditors.keys()].map((a) => sys.registry.auditorInfo(a)),
    sys.wallet.nonce(),
    sys.registry.getStatuses([...m.devices.keys(), ...unregisteredIds(m)]),
  ]);
  // Fees paid from credit join the pool when collected (or at the manufacturer's next deposit or withdrawal).
  const uncollected = await Promise.all(sys.makers.map((mk) => sys.registry.uncollectedPaidFees(mk.account.address)));
  expect(
    pool + reserved + uncollected.reduce((a, u) => a + u, 0n),
    `${name}: pool + reserved rewards + fees paid from credit not yet collected`,
  ).to.equal(m.feesCollected - m.rewardsWithdrawn);
  sys.makers.forEach((mk, i) => {
    const v = rest[i] as Awaited<ReturnType<typeof sys.registry.getManufacturer>>;
    expect(v.credit, `${name}: credit of manufacturer ${mk.id}`).to.equal(m.makers[i].credit);
    expect(v.active, `${name}: manufacturer ${mk.id} active`).to.equal(m.makers[i].active);
    expect(v.payout, `${name}: manufacturer ${mk.id} payout`).to.equal(m.makers[i].payout);
    expect(rest[sys.makers.length + i], `${name}: manufacturer ${mk.id} pending account`).to.equal(m.makers[i].pending);
  });
  [...m.auditors].forEach(([a, am], i) => {
    const v = rest[2 * sys.makers.length + i] as Awaited<ReturnType<typeof sys.registry.auditorInfo>>;
    const who = r.names.get(a);
    expect(v.active, `${name}: auditor ${a} active`).to.equal(am.active);
    expect(v.maxRewardsPerEpoch, `${name}: ${who}'s epoch reward cap`).to.equal(am.cap);
    const total = v.earned + am.withdrawn;
    expect(
      total <= am.changes * AUDIT_REWARD,
      `${name}: ${who} earned ${fmt("THING", total)} for ${am.changes} changed scores`,
    ).to.equal(true);
    // In one epoch: at most min(its cap, the reports it committed) rewarded changes.
    if (am.boundEpoch !== undefined) {
      expect(
        total - am.boundStart <= am.boundMax * AUDIT_REWARD,
        `${name}: ${who} earned ${fmt("THING", total - am.boundStart)} in epoch ${am.boundEpoch}, ` +
          `where cap and committed reports allow ${am.boundMax} rewards`,
      ).to.equal(true);
    }
    expect(total >= am.total, `${name}: ${who}'s rewards never shrink`).to.equal(true);
    am.total = total;
  });
  const nonce = rest[2 * sys.makers.length + m.auditors.size] as bigint;
  expect(nonce, `${name}: wallet nonce`).to.equal(m.wallet.nonce);

  // Devices: every status is the model's; unregistered pool ids stay unknown.
  const statuses = rest[2 * sys.makers.length + m.auditors.size + 1] as bigint[];
  const ids = [...m.devices.keys(), ...unregisteredIds(m)];
  ids.forEach((id, i) => {
    const want = m.devices.get(id)?.status ?? "Unknown";
    expect(Number(statuses[i]), `${name}: status of ${m.devices.get(id)?.uid ?? uidOf(id)}`).to.equal(STATUS[want]);
  });
  for (const id of plan.devices ?? []) await checkDevice(name, m, r, id);

  // Channels: the contract holds exactly the open deposits.
  const open = m.channels.filter((c) => c.open);
  expect(r.actual.get(channels)!.ETH, `${name}: channels ETH = open ETH deposits`).to.equal(
    open.filter((c) => !c.token).reduce((a, c) => a + c.deposit, 0n),
  );
  expect(r.actual.get(channels)!.THING, `${name}: channels THING = open token deposits`).to.equal(
    open.filter((c) => c.token).reduce((a, c) => a + c.deposit, 0n),
  );
  for (const c of plan.channels ?? []) {
    const v = await sys.channels.getChannel(c.id);
    expect(Number(v.status), `${name}: channel status`).to.equal(c.open ? 1 : 0);
    expect(v.deposit, `${name}: channel deposit`).to.equal(c.open ? c.deposit : 0n);
    expect(v.expiry, `${name}: channel expiry`).to.equal(c.open ? c.expiry : 0n);
  }
}

function unregisteredIds(m: Model): string[] {
  const all = [
    ...POOL.map((p) => deviceIdOf(p.maker + 1, p.uid)),
    ...WHITELIST_UIDS.flatMap((uids, i) => uids.map((u) => deviceIdOf(i + 1, u))),
  ];
  return all.filter((id) => !m.devices.has(id));
}

function uidOf(id: string): string {
  for (const p of POOL) if (deviceIdOf(p.maker + 1, p.uid) === id) return p.uid;
  return id;
}

/** One device's whole record: the manufacturer that made it, status, owner, key and reputation. */
export async function checkDevice(name: string, m: Model, r: Real, id: string): Promise<void> {
  const d = m.devices.get(id);
  const v = await r.sys.registry.getDevice(id);
  if (d === undefined) {
    expect(Number(v.status), `${name}: ${uidOf(id)} must stay unregistered`).to.equal(0);
    return;
  }
  const mk = r.sys.makers[d.maker];
  expect(Number(v.manufacturerId), `${name}: ${d.uid} maps to manufacturer ${mk.id}, who made it`).to.equal(mk.id);
  expect(v.manufacturer, `${name}: ${d.uid}'s manufacturer account`).to.equal(mk.account.address);
  expect(Number(v.status), `${name}: ${d.uid} status`).to.equal(STATUS[d.status]);
  expect(v.owner, `${name}: ${d.uid} owner`).to.equal(d.owner);
  expect(v.deviceKey, `${name}: ${d.uid} key`).to.equal(d.key);
  const rep = await r.sys.registry.reputationOf(id);
  expect(rep.audited, `${name}: ${d.uid} audited`).to.equal(d.rep !== undefined);
  if (d.rep !== undefined) {
    expect(Number(rep.score), `${name}: ${d.uid} score`).to.equal(d.rep.score);
    expect(Number(rep.trend), `${name}: ${d.uid} trend`).to.equal(d.rep.trend);
    expect(rep.epoch, `${name}: ${d.uid} score epoch`).to.equal(d.rep.epoch);
  }
}

/** At the end of a run: every device's whole record. */
export async function checkAllDevices(m: Model, r: Real): Promise<void> {
  for (const id of [...m.devices.keys(), ...unregisteredIds(m)]) await checkDevice("final sweep", m, r, id);
}
