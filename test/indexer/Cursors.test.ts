import { expect } from "chai";

import {
  EVENT_ID_DIGITS,
  channelListQuery,
  epochPageQuery,
  eventPageQuery,
  periodPageQuery,
} from "../../indexer/src/api/money-params";
import { deviceListQuery } from "../../indexer/src/api/params";

const AS = `0x${"3c".repeat(20)}`;
/** An event id as Ponder writes one: a whole checkpoint (timestamp, chain, block, tx index, type, log index). */
const EVENT_ID = `1796218594${"31337".padStart(16, "0")}${"12".padStart(16, "0")}${"0".padStart(16, "0")}5${"3".padStart(16, "0")}`;
const query = (q: string) => new URLSearchParams(q);

/**
 * Issue 18: a REST cursor is refused unless it has the width of what the route hands out as `nextCursor`:
 * a 32-byte id for devices and channels, a whole event id (75 digits) for a wallet's executions, spends and
 * periods, an epoch (uint32) for an auditor. A 400 with one line; the query itself is never built.
 */
describe("indexer REST cursors: shape and width", function () {
  it("takes the cursors the routes hand out", function () {
    expect(EVENT_ID).to.have.length(EVENT_ID_DIGITS);
    const id = `0x${"ab".repeat(32)}`;
    expect(deviceListQuery(query(`cursor=${id}`))).to.deep.include({ cursor: id });
    expect(deviceListQuery(query(`cursor=${id.toUpperCase().replace("0X", "0x")}`))).to.deep.include({ cursor: id });
    expect(channelListQuery(query(`as=${AS}&cursor=${id}`))).to.deep.include({ cursor: id });
    expect(eventPageQuery(query(`cursor=${EVENT_ID}`))).to.deep.equal({ cursor: EVENT_ID, limit: 25 });
    expect(periodPageQuery(query(`cursor=${EVENT_ID}&limit=5`))).to.deep.equal({ cursor: EVENT_ID, limit: 5 });
    expect(epochPageQuery(query("cursor=4294967295"))).to.deep.equal({ cursor: "4294967295", limit: 25 });
    expect(epochPageQuery(query("cursor=0"))).to.deep.equal({ cursor: "0", limit: 25 });
  });

  it("refuses a cursor of the right shape but the wrong width, in one line naming it", function () {
    const cases: [string, { error: string } | object, RegExp][] = [
      ["a 1-byte device id", deviceListQuery(query("cursor=0x01")), /^cursor: device id "0x01" is not 32 bytes of hex/],
      ["a 31-byte device id", deviceListQuery(query(`cursor=0x${"ab".repeat(31)}`)), /is not 32 bytes of hex/],
      ["a 33-byte device id", deviceListQuery(query(`cursor=0x${"ab".repeat(33)}`)), /is not 32 bytes of hex/],
      [
        "a 1-byte channel id",
        channelListQuery(query(`as=${AS}&cursor=0x01`)),
        /^cursor: channel id "0x01" is not 32 bytes/,
      ],
      [
        "a 1-digit event id",
        eventPageQuery(query("cursor=1")),
        /^cursor "1" is not a cursor this route gave \(an event id, 75 digits\)$/,
      ],
      ["an event id a digit short", eventPageQuery(query(`cursor=${EVENT_ID.slice(1)}`)), /an event id, 75 digits/],
      ["an event id a digit long", periodPageQuery(query(`cursor=${EVENT_ID}0`)), /an event id, 75 digits/],
      ["an event id in hex", eventPageQuery(query(`cursor=0x${EVENT_ID.slice(2)}`)), /an event id, 75 digits/],
      [
        "an epoch past uint32",
        epochPageQuery(query("cursor=4294967296")),
        /^cursor "4294967296" is not an epoch \(0-4294967295\)$/,
      ],
      ["an epoch of 11 digits", epochPageQuery(query("cursor=00000000001")), /is not an epoch/],
      ["an event id as an epoch", epochPageQuery(query(`cursor=${EVENT_ID}`)), /is not an epoch/],
    ];
    for (const [what, answer, line] of cases) {
      expect(answer, what).to.have.property("error").that.matches(line).and.not.contain("\n");
      expect(Object.keys(answer), what).to.deep.equal(["error"]);
    }
  });
});
