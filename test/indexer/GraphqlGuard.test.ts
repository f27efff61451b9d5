import { expect } from "chai";
import { getIntrospectionQuery } from "graphql";

import { GRAPHQL_BOUNDS, refuseGraphqlArguments } from "../../indexer/src/api/graphql-guard";
import type { CursorTables } from "../../indexer/src/api/graphql-guard";

/** Two tables as `cursorTables` describes them: `device` (id), and `walletPeriodUse` (a composite key). */
const TABLES: CursorTables = new Map([
  [
    "devices",
    {
      columns: new Map([
        ["id", "string"],
        ["registeredBlock", "bigint"],
        ["manufacturerId", "number"],
      ] as const),
      primaryKey: ["id"],
    },
  ],
  [
    "walletPeriodUses",
    {
      columns: new Map([
        ["wallet", "string"],
        ["asset", "string"],
        ["period", "number"],
        ["periodIndex", "bigint"],
      ] as const),
      primaryKey: ["wallet", "asset", "period", "periodIndex"],
    },
  ],
]);
const refuse = (query: string, variables?: Record<string, unknown>) =>
  refuseGraphqlArguments({ query, variables }, TABLES);
/** A cursor as Ponder encodes one: base64 of superjson (bigints as strings, marked in `meta`). */
const cursor = (json: Record<string, unknown>, bigints: string[] = []) =>
  Buffer.from(
    JSON.stringify(
      bigints.length === 0
        ? { json }
        : { json, meta: { values: Object.fromEntries(bigints.map((k) => [k, ["bigint"]])) } },
    ),
  ).toString("base64");

/** Issue 18's GraphQL guard on its own: documents refused before Ponder runs them, and the ones let through. */
describe("indexer GraphQL guard", function () {
  it("lets through GraphiQL's introspection, a page, and cursors of the field's order", function () {
    expect(refuse(getIntrospectionQuery())).to.equal(undefined);
    expect(refuse("{ devices(limit: 1000, offset: 10) { items { id } pageInfo { endCursor } totalCount } }")).to.equal(
      undefined,
    );
    expect(refuse(`{ devices(after: "${cursor({ id: "0x01" })}") { items { id } } }`)).to.equal(undefined);
    const ordered = cursor({ registeredBlock: "12", id: "0x01" }, ["registeredBlock"]);
    expect(refuse(`{ devices(orderBy: "registeredBlock", before: "${ordered}") { items { id } } }`)).to.equal(
      undefined,
    );
    const composite = cursor({ wallet: "0xa", asset: "0xb", period: 3600, periodIndex: "5" }, ["periodIndex"]);
    expect(refuse("query ($c: String) { walletPeriodUses(after: $c) { items { spent } } }", { c: composite })).to.equal(
      undefined,
    );
  });

  it("refuses a cursor that names other columns, misses one, or mistypes one", function () {
    const cases: [string, string][] = [
      ["devices", cursor({ manufacturerId: 1 })], // not the order's column
      ["devices", cursor({ registeredBlock: "12" }, ["registeredBlock"])], // without orderBy: the key only
      ["devices", cursor({ id: 1 })], // a number for a text column
      ["walletPeriodUses", cursor({ wallet: "0xa", asset: "0xb", period: 3600, periodIndex: 5 })], // bigint unmarked
      ["walletPeriodUses", cursor({ wallet: "0xa" })], // a composite key's part
      [
        "devices",
        Buffer.from(JSON.stringify({ json: { id: "0x01" }, meta: { values: { id: ["Date"] } } })).toString("base64"),
      ],
      ["devices", Buffer.from("[1]").toString("base64")],
      ["devices", "%%%"],
    ];
    for (const [field, bad] of cases) {
      expect(refuse(`query ($c: String) { ${field}(after: $c) { items { __typename } } }`, { c: bad }), bad).to.match(
        /^after cursor .* is not a cursor this API returned/,
      );
    }
  });

  it("reads a variable's default when it is not sent, and what was sent over the default", function () {
    expect(refuse("query ($n: Int = 5000) { devices(limit: $n) { items { id } } }")).to.match(
      /^limit 5000 is outside 1-1000/,
    );
    expect(refuse("query ($n: Int = 5000) { devices(limit: $n) { items { id } } }", { n: 5 })).to.equal(undefined);
    expect(refuse('query ($c: String = "x") { devices(before: $c) { items { id } } }')).to.match(/^before cursor "x"/);
  });

  it("bounds tables, fields (fragments expanded), depth and nested introspection lists", function () {
    const tables = Array.from({ length: GRAPHQL_BOUNDS.tables + 1 }, (_, i) => `t${i}: device(id: "0x") { id }`);
    expect(refuse(`{ ${tables.join(" ")} }`)).to.match(/more than 10 tables/);
    // Three pages: 1000 + 1000 + Ponder's default 50 rows; with 950 they fit.
    const pages = (n: number) =>
      `{ a: devices(limit: 1000) { items { id } } b: devices(limit: ${n}) { items { id } } c: devices { totalCount } }`;
    expect(refuse(pages(1000))).to.match(/more than 2000 rows/);
    expect(refuse(pages(950))).to.equal(undefined);
    // 16 spreads of a 20-field fragment: a short document that selects 320 fields.
    const fragment = `fragment F on device { ${Array.from({ length: 20 }, () => "id").join(" ")} }`;
    expect(refuse(`{ devices { items { ${"...F ".repeat(16)} } } } ${fragment}`)).to.match(/more than 300 fields/);
    expect(refuse(`{ __type(name: "device") { ${"ofType { ".repeat(15)}name${" }".repeat(15)} } }`)).to.match(/deep/);
    expect(refuse("{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }")).to.match(
      /introspection lists/,
    );
    // A fragment that spreads itself is left to Ponder's validation, without looping here.
    expect(refuse("{ devices { items { ...A } } } fragment A on device { id ...A }")).to.equal(undefined);
  });
});
