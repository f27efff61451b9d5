import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { readJsonFile } from "../../src/cli/json";
import { UserError } from "../../src/errors";

describe("readJsonFile", function () {
  let dir: string;
  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-json-"));
  });
  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function refusal(text: string): string {
    const file = path.join(dir, "f.json");
    fs.writeFileSync(file, text);
    try {
      readJsonFile(file, "a permit");
    } catch (error) {
      expect(error).to.be.instanceOf(UserError);
      return (error as Error).message.replace(file, "FILE");
    }
    throw new Error("expected a refusal");
  }

  it("names the line and column of malformed JSON, in one line", function () {
    expect(refusal('{\n  "owner": "0x1",\n  "value": }\n')).to.equal(
      "FILE is not valid JSON (line 3 column 12: invalid character '}'): expected a permit",
    );
    expect(refusal('{\n  "a": 1,\n  "b": 2,\n}\n')).to.equal(
      "FILE is not valid JSON (line 4 column 1: Expected double-quoted property name): expected a permit",
    );
    expect(refusal('{\n  "a": 1\n')).to.match(/^FILE is not valid JSON \(line 3 column 1: invalid end of input\)/);
    expect(refusal("[1,\n// two\n2]")).to.equal(
      "FILE is not valid JSON (line 2 column 1: a comment or trailing comma, which JSON does not allow): expected a permit",
    );
    expect(refusal("")).to.match(/^FILE is not valid JSON \(line 1 column 1: /);
    for (const text of ['{\n "a": }', "[1,\n2,]", "{'a': 1}"]) expect(refusal(text)).to.not.contain("\n");
  });
});
