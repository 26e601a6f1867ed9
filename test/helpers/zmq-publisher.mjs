// A real libzmq publisher for the ZMQ subscriber tests. Run with `node` (the `zeromq` binding
// aborts under Bun). It publishes what bitcoind's -zmqpubhashblock publishes:
// [topic, body, 4-byte little-endian sequence], one sequence counter per topic.
//
//   node test/helpers/zmq-publisher.mjs [--xpub] [endpoint]      (endpoint default tcp://127.0.0.1:*)
//
// stdout, one line per event:
//   endpoint <tcp://127.0.0.1:port>   bound and ready for commands
//   sub <topic> / unsub <topic>       (--xpub only) a subscription reached the socket, so messages
//                                     published from now on are delivered to that subscriber
//   sent <topic> <seq>                a message was handed to libzmq
// stdin commands, one per line, executed in order:
//   pub <hex>                 publish topic "hashblock" with body = the bytes of <hex>
//   send <topic> <hex>        publish any topic (e.g. "rawtx")
//   exit                      close the socket and exit 0
//
// --xpub uses an XPUB socket, which is PUB plus the subscriptions readable by the application:
// that is the handshake that lets a test publish once instead of working around the "slow
// joiner" problem. Without it the socket is a plain PUB like Core's (READY says Socket-Type=PUB).
import { createInterface } from "node:readline";
import zmq from "zeromq";

const args = process.argv.slice(2);
const xpub = args.includes("--xpub");
const endpoint = args.find((a) => !a.startsWith("--")) ?? "tcp://127.0.0.1:*";

const sock = xpub ? new zmq.XPublisher() : new zmq.Publisher();
sock.linger = 0;
if (xpub) sock.verbosity = "allSubs"; // report every subscription, also repeated ones after reconnects
await sock.bind(endpoint);
const out = (line) => process.stdout.write(line + "\n");
out(`endpoint ${sock.lastEndpoint}`);

if (xpub) {
  (async () => {
    try {
      for await (const [msg] of sock) {
        const kind = msg[0] === 1 ? "sub" : msg[0] === 0 ? "unsub" : "other";
        out(`${kind} ${msg.subarray(1).toString("latin1")}`);
      }
    } catch {
      // the socket was closed by `exit`
    }
  })();
}

const seqs = new Map();
const publish = async (topic, hex) => {
  const seq = seqs.get(topic) ?? 0;
  seqs.set(topic, (seq + 1) >>> 0);
  const seqBuf = Buffer.alloc(4);
  seqBuf.writeUInt32LE(seq);
  await sock.send([topic, Buffer.from(hex, "hex"), seqBuf]);
  out(`sent ${topic} ${seq}`);
};

const exit = () => {
  sock.close();
  process.exit(0);
};

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, a, b] = line.trim().split(/\s+/);
  if (cmd === "pub" && a) await publish("hashblock", a);
  else if (cmd === "send" && a) await publish(a, b ?? "");
  else if (cmd === "exit") exit();
  else if (cmd) process.stderr.write(`zmq-publisher: unknown command ${line}\n`);
}
// stdin closed (the test process went away): do not linger as an orphan.
exit();
