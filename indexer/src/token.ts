import { ponder } from "ponder:registry";
import { deviceWallet, tokenTransfer } from "ponder:schema";

/**
 * ThingToken transfers from or to a contract of the system: fees, rewards, channel deposits and payouts, and
 * device wallets' funding and spends.
 */
/** The system's contracts but the token (their addresses are fixed for a run): built at the first transfer. */
let systemContracts: Set<string> | undefined;

ponder.on("ThingToken:Transfer", async ({ event, context }) => {
  if (systemContracts === undefined) {
    systemContracts = new Set(Object.values(context.contracts).map((c) => String(c.address).toLowerCase()));
    systemContracts.delete(context.contracts.ThingToken.address.toLowerCase());
  }
  const system = systemContracts;
  const { from, to, value } = event.args;
  if (
    !system.has(from.toLowerCase()) &&
    !system.has(to.toLowerCase()) &&
    (await context.db.find(deviceWallet, { address: to })) === null &&
    (await context.db.find(deviceWallet, { address: from })) === null
  )
    return;
  await context.db.insert(tokenTransfer).values({
    id: event.id,
    from,
    to,
    value,
    block: event.block.number,
    timestamp: event.block.timestamp,
    txHash: event.transaction.hash,
  });
});
