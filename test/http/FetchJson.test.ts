import http from "node:http";
import type { AddressInfo } from "node:net";

import { expect } from "chai";

import { NotJsonError, UnreachableError, askJson, fetchJson } from "../../src/http/client";

/** The one HTTP client of the command line (access:buy, the channel client, reputation submit and verify). */
describe("fetchJson / askJson", function () {
  let server: http.Server;
  let url: string;

  before(async function () {
    server = http.createServer((request, response) => {
      if (request.url === "/json") {
        response.writeHead(404, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: "no such thing", reason: "not_found" }));
      } else if (request.url === "/empty") {
        response.writeHead(204);
        response.end();
      } else {
        response.writeHead(502, { "content-type": "text/html; charset=utf-8" });
        response.end("<html><body>502 Bad Gateway</body></html>");
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async function () {
    await new Promise((resolve) => server.close(resolve));
  });

  it("returns any status with its JSON body, and {} for an empty body", async function () {
    const refused = await fetchJson("AS", `${url}/json`);
    expect(refused).to.include({ status: 404, ok: false });
    expect(refused.body).to.deep.equal({ error: "no such thing", reason: "not_found" });
    expect((await fetchJson("AS", `${url}/empty`)).body).to.deep.equal({});
  });

  it("an answer that is not JSON is one line naming the URL and the HTTP status, never the parser's message", async function () {
    const error = await fetchJson("AS", `${url}/html`).then(
      () => expect.fail("accepted HTML"),
      (e: Error) => e,
    );
    expect(error).to.be.instanceOf(NotJsonError);
    expect(error.message).to.equal(
      `the AS at ${url}/html answered 502 Bad Gateway with a body that is not JSON (text/html)`,
    );
    expect((error as NotJsonError).status).to.equal(502);
  });

  it("no answer is one line naming the origin and the cause; askJson turns a refusal into one line", async function () {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await fetchJson("lock", `http://127.0.0.1:${port}/present`).then(
      () => expect.fail("reached a closed port"),
      (e: Error) => e,
    );
    expect(error).to.be.instanceOf(UnreachableError);
    expect(error.message).to.equal(`cannot reach the lock at http://127.0.0.1:${port} (ECONNREFUSED)`);
    const refusal = await askJson("auditor", `${url}/json`).then(
      () => expect.fail("accepted a 404"),
      (e: Error) => e.message,
    );
    expect(refusal).to.equal("the auditor refused: 404 no such thing");
  });
});
