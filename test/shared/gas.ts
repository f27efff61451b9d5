import fs from "node:fs";
import path from "node:path";

import type { ContractTransactionResponse, TransactionReceipt, TransactionResponse } from "ethers";
import hre from "hardhat";

import type { MeasuredTx } from "../../src/bench/bound";

/**
 * Gas snapshots, after Uniswap's `snapshotGasCost`, for ethers v6.
 *
 * Every named operation's gas is compared with `test/gas-snapshots.json`; any difference fails the test,
 * so a gas regression (or an unexplained improvement) cannot land silently. To accept new figures run
 * `npm run test:update-gas` and commit the file. Under solidity-coverage the contracts are instrumented,
 * so snapshots are skipped. With `GAS_MEASURE_OUT=file` every measurement is also written there (this
 * is how `npm run bench:gas` collects its table), with the transaction behind it when there is one (its
 * calldata, value, gas limit and logs: the report's lower bound and L2 size come from them), and nothing is
 * compared or rewritten.
 */
export const SNAPSHOT_FILE = path.join(__dirname, "..", "gas-snapshots.json");

const updating = process.env.UPDATE_GAS_SNAPSHOTS === "1";
const measureOut = process.env.GAS_MEASURE_OUT;
const measured = new Map<string, number>();
const transactions = new Map<string, MeasuredTx>();
let stored: Record<string, number> | undefined;

function snapshots(): Record<string, number> {
  stored ??= fs.existsSync(SNAPSHOT_FILE)
    ? (JSON.parse(fs.readFileSync(SNAPSHOT_FILE, "utf8")) as Record<string, number>)
    : {};
  return stored;
}

/** True while solidity-coverage runs, when gas figures are meaningless. */
export function coverageRunning(): boolean {
  return (hre as unknown as { __SOLIDITY_COVERAGE_RUNNING?: boolean }).__SOLIDITY_COVERAGE_RUNNING === true;
}

type Measured = bigint | number | TransactionReceipt | ContractTransactionResponse;
type Measurable = Measured | Promise<Measured>;

interface Measurement {
  gas: bigint;
  /** The transaction measured, when the subject was one (not a computed figure). */
  tx?: { response: TransactionResponse; receipt: TransactionReceipt };
}

async function measure(subject: Measurable): Promise<Measurement> {
  const resolved = await subject;
  if (typeof resolved === "bigint") return { gas: resolved };
  if (typeof resolved === "number") return { gas: BigInt(resolved) };
  if ("gasUsed" in resolved && typeof resolved.gasUsed === "bigint") {
    const receipt = resolved as TransactionReceipt;
    // The transaction is fetched only when the bench collects it.
    if (measureOut === undefined) return { gas: receipt.gasUsed };
    return { gas: receipt.gasUsed, tx: { response: await receipt.getTransaction(), receipt } };
  }
  const response = resolved as ContractTransactionResponse;
  const receipt = await response.wait();
  if (receipt === null) throw new Error("transaction has no receipt");
  return { gas: receipt.gasUsed, tx: { response, receipt } };
}

function measuredTx({ response, receipt }: { response: TransactionResponse; receipt: TransactionReceipt }): MeasuredTx {
  return {
    to: response.to,
    data: response.data,
    value: response.value.toString(),
    gasLimit: response.gasLimit.toString(),
    logs: receipt.logs.map((l) => ({ topics: l.topics.length, dataBytes: (l.data.length - 2) / 2 })),
  };
}

/**
 * Records the gas of `subject` (a transaction, its receipt, or a computed figure) under `name` and fails
 * if it differs from the committed snapshot. Returns the gas.
 */
export async function snapshotGas(name: string, subject: Measurable): Promise<bigint> {
  const { gas, tx } = await measure(subject);
  if (coverageRunning()) return gas;
  if (measured.has(name) && measured.get(name) !== Number(gas)) {
    throw new Error(
      `gas snapshot "${name}" was measured twice with different values (${measured.get(name)} and ${gas})`,
    );
  }
  measured.set(name, Number(gas));
  if (tx !== undefined && measureOut !== undefined) transactions.set(name, measuredTx(tx));
  if (updating || measureOut !== undefined) return gas;
  const expected = snapshots()[name];
  if (expected === undefined) {
    throw new Error(
      `no gas snapshot for "${name}" (measured ${gas}); run \`npm run test:update-gas\` and commit ${path.basename(SNAPSHOT_FILE)}`,
    );
  }
  if (expected !== Number(gas)) {
    const delta = Number(gas) - expected;
    throw new Error(
      `gas snapshot "${name}" changed: expected ${expected}, got ${gas} (${delta > 0 ? "+" : ""}${delta}); if intended run \`npm run test:update-gas\``,
    );
  }
  return gas;
}

function sortedRecord(map: Map<string, number> | Record<string, number>): Record<string, number> {
  const entries = map instanceof Map ? [...map.entries()] : Object.entries(map);
  return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
}

// Root-level hook: runs once after the whole suite.
after(function writeGasSnapshots() {
  if (coverageRunning()) return;
  if (updating && measured.size > 0) {
    const merged = { ...snapshots(), ...Object.fromEntries(measured) };
    fs.writeFileSync(SNAPSHOT_FILE, `${JSON.stringify(sortedRecord(merged), null, 2)}\n`);
    console.log(`  gas snapshots: wrote ${measured.size} figure(s) to ${path.relative(process.cwd(), SNAPSHOT_FILE)}`);
  }
  if (measureOut !== undefined) {
    const measurements = { gas: sortedRecord(measured), transactions: Object.fromEntries(transactions) };
    fs.writeFileSync(measureOut, `${JSON.stringify(measurements, null, 2)}\n`);
  }
});
