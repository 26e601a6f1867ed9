/** --tls-cert / --tls-key checks at start-up: each failure is one line naming the flag and the file. */
import { describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readTlsFiles } from "../../../src/electrum/tls.ts";
import { ConfigError } from "../../../src/errors.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { memoryLogger } from "../rest/harness.ts";

const DIR = join(import.meta.dir, "..", "..", "fixtures", "tls");
const CERT = join(DIR, "cert.pem");
const KEY = join(DIR, "key.pem");

function failure(cert: string, key: string): string {
  try {
    readTlsFiles(cert, key, memoryLogger().log);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).not.toContain("\n");
    return msg;
  }
  throw new Error("expected a ConfigError");
}

describe("readTlsFiles", () => {
  test("the test certificate and its key", () => {
    const { log, lines } = memoryLogger();
    const t = readTlsFiles(CERT, KEY, log);
    expect(t.cert).toContain("BEGIN CERTIFICATE");
    expect(t.key).toContain("PRIVATE KEY");
    expect(lines.join("\n")).not.toContain("expired");
  });

  test("missing files, non-PEM files, a key of another certificate", () => {
    using tmp = tempDir();
    const junk = join(tmp.path, "junk.pem");
    writeFileSync(junk, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    const otherKey = join(tmp.path, "other.pem");
    writeFileSync(otherKey, generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "pkcs8", format: "pem" }));
    expect(failure(join(tmp.path, "nope.pem"), KEY)).toStartWith(`cannot read --tls-cert ${join(tmp.path, "nope.pem")}: `);
    expect(failure(CERT, join(tmp.path, "nope.pem"))).toStartWith(`cannot read --tls-key ${join(tmp.path, "nope.pem")}: `);
    expect(failure(junk, KEY)).toStartWith(`--tls-cert ${junk} is not a PEM certificate: `);
    expect(failure(CERT, CERT)).toStartWith(`--tls-key ${CERT} is not a PEM private key: `);
    expect(failure(CERT, otherKey)).toBe(`--tls-key ${otherKey} is not the key of the certificate in --tls-cert ${CERT}`);
  });

  test("an expired certificate is served with a warning", () => {
    const { log, lines } = memoryLogger();
    readTlsFiles(CERT, KEY, log, new Date("2200-01-01T00:00:00Z"));
    expect(lines.join("\n")).toContain(`--tls-cert ${CERT} expired on`);
  });
});
