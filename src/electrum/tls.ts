/**
 * --tls-cert and --tls-key: read and checked at start-up (before the initial sync), so that a
 * wrong path, a file that is not PEM, or a key that does not belong to the certificate is one
 * clear line naming the flag, not an OpenSSL code from the listener hours later.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log.ts";

/** PEM text of the certificate (chain) and private key, for the TLS listeners. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

export function readTlsFiles(certPath: string, keyPath: string, log: Logger, now: Date = new Date()): TlsFiles {
  const cert = readText("--tls-cert", certPath);
  const key = readText("--tls-key", keyPath);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ConfigError(`--tls-cert ${certPath} is not a PEM certificate: ${(err as Error).message}`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new ConfigError(`--tls-key ${keyPath} is not a PEM private key: ${(err as Error).message}`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new ConfigError(`--tls-key ${keyPath} is not the key of the certificate in --tls-cert ${certPath}`);
  // An expired certificate still serves clients that do not check (Electrum pins self-signed ones); say so.
  if (new Date(x509.validTo).getTime() < now.getTime()) log.warn(`--tls-cert ${certPath} expired on ${x509.validTo}`);
  return { cert, key };
}

function readText(flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read ${flag} ${path}: ${(err as Error).message}`);
  }
}
