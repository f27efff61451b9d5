/**
 * The Authorization Server process of `npm run bench:as`: serves the channels and devices seeded in the
 * SQLite file given as argument, on the port given, until killed. Prints "listening <url>" when ready.
 */
import { AuthorizationServer } from "../src/channels/as-server";
import { AsStore } from "../src/channels/store";
import { ReceiptVerifier } from "../src/channels/verify";

const [file, payee, chainId, channels, port] = process.argv.slice(2);
const store = new AsStore(file);
const server = new AuthorizationServer({
  payee,
  verifier: new ReceiptVerifier({
    name: "ThingLedger PaymentChannels",
    version: "1",
    chainId: BigInt(chainId),
    verifyingContract: channels,
  }),
  store,
  // The benchmark has no device to use the codes: lift the outstanding-codes bound (one device, every client).
  hotpWindow: Number.MAX_SAFE_INTEGER,
});
server
  .listen(Number(port))
  .then((url) => console.log(`listening ${url}`))
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
