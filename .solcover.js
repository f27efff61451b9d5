// solidity-coverage: mocks are test scaffolding, not product code.
module.exports = {
  skipFiles: ["mocks/"],
  istanbulReporter: ["text", "json-summary", "lcov"],
  mocha: { timeout: 300000 },
};
