import Module from "node:module";

/**
 * Defers loading a CommonJS module until something reads from it: `require(id)` returns a stand-in whose
 * every property read (and key listing) loads the real module once and answers from it; later `require`s
 * get the real module. For a module that plugins `require` at start-up but only use inside task actions.
 * A module already loaded is left as it is.
 */
export function loadOnFirstUse(id: string, from: string = __filename): void {
  const file = require.resolve(id, { paths: [from] });
  if (require.cache[file] !== undefined) return;
  let real: object | undefined;
  const load = (): object => {
    if (real === undefined) {
      delete require.cache[file];
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      real = require(file) as object;
    }
    return real;
  };
  const standIn = new Module(file);
  standIn.filename = file;
  standIn.loaded = true;
  standIn.exports = new Proxy(
    {},
    {
      get: (_target, key) => Reflect.get(load(), key),
      has: (_target, key) => Reflect.has(load(), key),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_target, key) => {
        const descriptor = Reflect.getOwnPropertyDescriptor(load(), key);
        // The stand-in's own (empty) target has no such property: a proxy may only report it as configurable.
        return descriptor === undefined ? undefined : { ...descriptor, configurable: true };
      },
    },
  );
  require.cache[file] = standIn;
}

/**
 * Hardhat Ignition's plugin requires its core (~0.25 s of CPU: its deployer, strategies and ethers) when
 * the config loads, but uses it only when a deployment runs or an error is checked. Every other task
 * (`device:status`, ...) starts without it.
 */
loadOnFirstUse("@nomicfoundation/ignition-core", require.resolve("@nomicfoundation/hardhat-ignition"));

/**
 * The same for the fs-extra that Ignition's plugin requires (~15 ms), which it uses only inside its tasks.
 */
loadOnFirstUse("fs-extra", require.resolve("@nomicfoundation/hardhat-ignition"));
