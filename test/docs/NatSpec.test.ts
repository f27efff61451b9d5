import { expect } from "chai";
import hre from "hardhat";

/**
 * The contracts' conventions, checked on the compiler's own AST: every error and event declared in
 * `contracts/` (mocks aside) has a `@notice` and a `@param` for each argument, and the errors shared by
 * several contracts are declared once ({IThingLedgerErrors}).
 */

// Owned by the channels work until it adopts IThingLedgerErrors and documents its errors and events.
const DEPLOYABLE = ["DeviceRegistry", "DeviceWallet", "DeviceWalletFactory", "PaymentChannels", "ThingToken"];

interface AstNode {
  nodeType?: string;
  name?: string;
  documentation?: { text?: string } | null;
  parameters?: { parameters: { name: string }[] };
  [key: string]: unknown;
}

interface Declaration {
  kind: "error" | "event";
  source: string;
  name: string;
  doc: string;
  params: string[];
}

function walk(node: unknown, visit: (n: AstNode) => void): void {
  if (Array.isArray(node)) {
    for (const child of node) walk(child, visit);
  } else if (node !== null && typeof node === "object") {
    visit(node as AstNode);
    for (const value of Object.values(node)) walk(value, visit);
  }
}

async function declarations(): Promise<Declaration[]> {
  const found = new Map<string, Declaration>();
  for (const name of DEPLOYABLE) {
    const artifact = await hre.artifacts.readArtifact(name);
    const buildInfo = await hre.artifacts.getBuildInfo(`${artifact.sourceName}:${name}`);
    if (buildInfo === undefined) throw new Error(`no build info for ${name}`);
    for (const [source, { ast }] of Object.entries(buildInfo.output.sources)) {
      if (!source.startsWith("contracts/") || source.startsWith("contracts/mocks/")) continue;
      walk(ast, (n) => {
        if (n.nodeType !== "ErrorDefinition" && n.nodeType !== "EventDefinition") return;
        const kind = n.nodeType === "ErrorDefinition" ? "error" : "event";
        const params = (n.parameters?.parameters ?? []).map((p) => p.name);
        found.set(`${source}:${kind}:${n.name}`, {
          kind,
          source,
          name: n.name ?? "",
          doc: n.documentation?.text ?? "",
          params,
        });
      });
    }
  }
  return [...found.values()];
}

describe("contract NatSpec and shared errors", function () {
  it("every error and event has a @notice and a @param per argument", async function () {
    const all = await declarations();
    expect(all.length, "declarations found").to.be.greaterThan(100);
    const missing = all.flatMap((d) => {
      const gaps = d.doc.includes("@notice") ? [] : ["@notice"];
      for (const p of d.params) if (!new RegExp(`@param ${p}\\b`).test(d.doc)) gaps.push(`@param ${p}`);
      return gaps.length === 0 ? [] : [`${d.source} ${d.kind} ${d.name}: ${gaps.join(", ")}`];
    });
    expect(missing).to.deep.equal([]);
  });

  it("ZeroAddress, SignatureExpired and LengthMismatch are declared once, in IThingLedgerErrors", async function () {
    const all = await declarations();
    for (const shared of ["ZeroAddress", "SignatureExpired", "LengthMismatch"]) {
      const where = all.filter((d) => d.kind === "error" && d.name === shared).map((d) => d.source);
      expect(where, shared).to.deep.equal(["contracts/interfaces/IThingLedgerErrors.sol"]);
    }
  });

  it("no deployable contract's ABI lists one error twice", async function () {
    for (const name of DEPLOYABLE) {
      const { abi } = await hre.artifacts.readArtifact(name);
      const errors = (abi as { type: string; name: string; inputs: { type: string }[] }[])
        .filter((e) => e.type === "error")
        .map((e) => `${e.name}(${e.inputs.map((i) => i.type).join(",")})`);
      expect(errors.length, name).to.equal(new Set(errors).size);
    }
  });
});
