/**
 * The TypeChain factories the library uses, each from its own file. `typechain-types`' index loads every
 * factory of every contract (mocks and OpenZeppelin's included, ~90 files), which costs each task's
 * start-up seconds of TypeScript transpiling; import factories from here, and types from the index (type
 * imports are erased). ESLint enforces this for `src/` and `tasks/`.
 */
export { IERC20Metadata__factory } from "../../typechain-types/factories/@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata__factory";
export { PaymentChannels__factory } from "../../typechain-types/factories/contracts/channels/PaymentChannels__factory";
export { DeviceRegistry__factory } from "../../typechain-types/factories/contracts/registry/DeviceRegistry__factory";
export { ThingToken__factory } from "../../typechain-types/factories/contracts/token/ThingToken__factory";
export { DeviceWalletFactory__factory } from "../../typechain-types/factories/contracts/wallet/DeviceWalletFactory__factory";
export { DeviceWallet__factory } from "../../typechain-types/factories/contracts/wallet/DeviceWallet__factory";
