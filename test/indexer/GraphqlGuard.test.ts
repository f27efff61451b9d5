import { expect } from "chai";
import { getIntrospectionQuery } from "graphql";

import { GRAPHQL_BOUNDS, refuseGraphqlArguments } from "../../indexer/src/api/graphql-guard";
import { VALUE_BOUNDS } from "../../indexer/src/api/graphql-values";
import type { CursorTables } from "../../indexer/src/api/graphql-guard";

/** Two tables as `cursorTables` describes them: `device` (id), and `walletPeriodUse` (a composite key). */
const TABLES: CursorTables = new Map([
  [
    "devices",
    {
      columns: new Map([
        ["id", "hex"],
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
        ["wallet", "hex"],
        ["asset", "string"],
        ["period", "number"],
        ["periodIndex", "bigint"],
      ] as const),
      primaryKey: ["wallet", "asset", "period", "periodIndex"],
    },
  ],
]);
/** Hex as Ponder stores it: a 32-byte id, a 20-byte address. */
const ID = `0x${"01ab".repeat(16)}`;
const WALLET = `0x${"0a".repeat(20)}`;
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
    expect(refuse(`{ devices(after: "${cursor({ id: ID })}") { items { id } } }`)).to.equal(undefined);
    const ordered = cursor({ registeredBlock: "12", id: ID }, ["registeredBlock"]);
    expect(refuse(`{ devices(orderBy: "registeredBlock", before: "${ordered}") { items { id } } }`)).to.equal(
      undefined,
    );
    const composite = cursor({ wallet: WALLET, asset: "0xb", period: 3600, periodIndex: "5" }, ["periodIndex"]);
    expect(refuse("query ($c: String) { walletPeriodUses(after: $c) { items { spent } } }", { c: composite })).to.equal(
      undefined,
    );
  });

  it("refuses a cursor that names other columns, misses one, or mistypes one", function () {
    const cases: [string, string][] = [
      ["devices", cursor({ manufacturerId: 1 })], // not the order's column
      ["devices", cursor({ registeredBlock: "12" }, ["registeredBlock"])], // without orderBy: the key only
      ["devices", cursor({ id: 1 })], // a number for a text column
      // Forged hex: empty, an odd digit, upper case, not hex (Ponder stores lower-case hex of whole bytes).
      ["devices", cursor({ id: "0x" })],
      ["devices", cursor({ id: "0x1" })],
      ["devices", cursor({ id: "0xAB" })],
      ["devices", cursor({ id: "zz" })],
      // Whole bytes, but not an address's 20 nor an id's 32: a 1-byte id, 31, 33 and 21 bytes.
      ["devices", cursor({ id: "0x01" })],
      ["devices", cursor({ id: `0x${"ab".repeat(31)}` })],
      ["devices", cursor({ id: `0x${"ab".repeat(33)}` })],
      [
        "walletPeriodUses",
        cursor({ wallet: `0x${"0a".repeat(21)}`, asset: "0xb", period: 3600, periodIndex: "5" }, ["periodIndex"]),
      ],
      [
        "walletPeriodUses",
        cursor({ wallet: WALLET, asset: "b\u0000", period: 3600, periodIndex: "5" }, ["periodIndex"]),
      ],
      ["walletPeriodUses", cursor({ wallet: "0xa", asset: "0xb", period: 3600, periodIndex: 5 })], // bigint unmarked
      ["walletPeriodUses", cursor({ wallet: "0xa" })], // a composite key's part
      [
        "devices",
        Buffer.from(JSON.stringify({ json: { id: ID }, meta: { values: { id: ["Date"] } } })).toString("base64"),
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

  // The outside attack's filters: a wide OR broke Ponder's database connection until restart, a deep AND and
  // a long id_in overflowed its stack. Each is refused here, sent as a variable or written in the document.
  it("bounds filters' lists, nesting and size, in variables and in literal arguments", function () {
    const query = "query ($w: deviceFilter) { devices(where: $w) { items { id } } }";
    const id = (i: number) => `0x${i.toString(16).padStart(64, "0")}`;
    const ids = (n: number) => Array.from({ length: n }, (_, i) => id(i));
    expect(refuse(query, { w: { OR: ids(50_000).map((i) => ({ id: i })) } })).to.match(
      /^OR lists 50000 items, more than 100/,
    );
    expect(refuse(query, { w: { id_in: ids(200_000) } })).to.match(/^id_in lists 200000 items/);
    let deep: Record<string, unknown> = { id: id(1) };
    for (let i = 0; i < 3000; i++) deep = { AND: [deep] };
    expect(refuse(query, { w: deep })).to.match(/^AND nests objects and lists more than 8 deep/);
    // Many short lists add up: 20 ORs of 100 items are more values than a request may hold.
    const many = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`v${i}`, ids(100)]));
    expect(refuse(query, many)).to.match(/more than 1000 values/);
    // 20,000 characters in all, however few values.
    expect(refuse(query, { w: { deviceKey_contains: "a".repeat(VALUE_BOUNDS.chars) } })).to.match(/characters of JSON/);
    // Written in the document: the same bounds.
    const literal = `[${ids(VALUE_BOUNDS.list + 1)
      .slice(0, VALUE_BOUNDS.list + 1)
      .map((i) => `"${i.slice(0, 4)}"`)
      .join(",")}]`;
    expect(refuse(`{ devices(where: { id_in: ${literal} }) { items { id } } }`)).to.match(/^id_in lists 101 items/);
    expect(
      refuse(`{ devices(where: ${"{ AND: [".repeat(5)}{ id: "0x" }${"] }".repeat(5)}) { items { id } } }`),
    ).to.match(/nests objects and lists more than 8 deep/);
    expect(refuse(`query ($w: deviceFilter = { id_in: ${literal} }) { devices(where: $w) { items { id } } }`)).to.match(
      /^id_in lists 101 items/,
    );
    // What a client asks for does fit: 100 ids, 3 levels of AND/OR.
    expect(refuse(query, { w: { id_in: ids(100) } })).to.equal(undefined);
    expect(
      refuse(query, { w: { AND: [{ OR: [{ id: id(1) }, { status: "Active" }] }, { manufacturerId: 1 }] } }),
    ).to.equal(undefined);
    expect(refuse('{ devices(where: { AND: [{ OR: [{ id: "0x1" }] }] }) { items { id } } }')).to.equal(undefined);
  });

  it("refuses a NUL in any string, LIKE wildcards in a text filter, and an orderDirection other than asc/desc", function () {
    expect(refuse('{ devices(where: { deviceKey_contains: "\\u0000" }) { items { id } } }')).to.match(/NUL/);
    expect(
      refuse("query ($k: String) { devices(where: { deviceKey: $k }) { items { id } } }", { k: "a\u0000" }),
    ).to.match(/^k holds a NUL/);
    expect(
      refuse("query ($w: deviceFilter) { devices(where: $w) { items { id } } }", { w: { ["a\u0000"]: 1 } }),
    ).to.match(/NUL/);
    for (const key of ["id_starts_with", "id_not_starts_with", "deviceKey_contains", "owner_not_ends_with"])
      for (const bad of ["%", "0x_", "a\\b"])
        expect(
          refuse(`query ($w: deviceFilter) { devices(where: $w) { items { id } } }`, { w: { [key]: bad } }),
          key,
        ).to.match(new RegExp(`^${key}: wildcards \\(%, _ and \\\\\\) are not supported`));
    expect(refuse('{ devices(where: { id_starts_with: "%" }) { items { id } } }')).to.match(/wildcards/);
    // The same characters elsewhere are plain text, and a filter without them is let through.
    expect(refuse('{ devices(where: { id: "0x_%" }) { items { id } } }')).to.equal(undefined);
    expect(refuse('{ devices(where: { id_starts_with: "0xab" }) { items { id } } }')).to.equal(undefined);
    expect(refuse('{ devices(orderBy: "id", orderDirection: "sideways") { items { id } } }')).to.match(
      /^orderDirection "sideways" is not asc or desc/,
    );
    expect(refuse("query ($d: String) { devices(orderDirection: $d) { items { id } } }", { d: 1 })).to.match(
      /^orderDirection 1 is not asc or desc/,
    );
    expect(refuse('{ devices(orderBy: "id", orderDirection: "desc") { items { id } } }')).to.equal(undefined);
    expect(refuse('{ devices(orderDirection: "asc") { items { id } } }')).to.equal(undefined);
  });
});
