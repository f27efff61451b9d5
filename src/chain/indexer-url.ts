/** Where `npx hardhat indexer` serves by default; free of Node, so the browser app imports it too. */
export const DEFAULT_INDEXER_URL = "http://127.0.0.1:42069";
