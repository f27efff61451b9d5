import http from "node:http";
import type { AddressInfo } from "node:net";

import { expect } from "chai";
import hre from "hardhat";
import { TASK_NODE_CREATE_SERVER, TASK_NODE_SERVER_CREATED } from "hardhat/builtin-tasks/task-names";

interface JsonRpcServer {
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

interface Answer {
  headers: http.IncomingHttpHeaders;
  reusedSocket: boolean;
  body: { result?: string };
}

function chainId(port: number, agent: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method: "POST", agent, headers: { "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () =>
          resolve({ headers: res.headers, reusedSocket: req.reusedSocket, body: JSON.parse(text) as Answer["body"] }),
        );
      },
    );
    req.once("error", reject);
    req.end(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }));
  });
}

/**
 * `hardhat node`'s JSON-RPC server, built in this process by the same subtasks the `node` task runs, on a
 * free port.
 */
describe("hardhat node keep-alive", function () {
  let server: JsonRpcServer;
  let port: number;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  before(async function () {
    const args = { hostname: "127.0.0.1", port: 0, provider: hre.network.provider };
    server = (await hre.run(TASK_NODE_CREATE_SERVER, args)) as JsonRpcServer;
    await hre.run(TASK_NODE_SERVER_CREATED, { ...args, server });
    ({ port } = await server.listen());
  });

  after(async function () {
    agent.destroy();
    await server?.close();
  });

  it("leaves idle connections to the client to close: no Keep-Alive timeout, still open after Node's 5 s default", async function () {
    const first = await chainId(port, agent);
    expect(first.body.result).to.equal("0x7a69");
    expect(first.headers.connection).to.equal("keep-alive");
    expect(first.headers["keep-alive"], "the node announces a timeout clients race against").to.equal(undefined);

    // Idle past Node's default keepAliveTimeout (5 s), after which the node used to close the connection.
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    const second = await chainId(port, agent);
    expect(second.body.result).to.equal("0x7a69");
    expect(second.reusedSocket, "the node closed the idle connection").to.equal(true);
  });
});
