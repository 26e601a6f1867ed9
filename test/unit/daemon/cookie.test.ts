import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../../src/errors.ts";
import { fromCookieFile, fromUserPass } from "../../../src/daemon/cookie.ts";

const T = 2000;
const basic = (s: string) => "Basic " + Buffer.from(s).toString("base64");

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function cookiePath(content?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cookie-test-"));
  dirs.push(dir);
  const path = join(dir, ".cookie");
  if (content !== undefined) writeFileSync(path, content);
  return path;
}

describe("fromUserPass", () => {
  test("gives a Basic header and hides the password", () => {
    const auth = fromUserPass("alice:s3cret:with:colons");
    expect(auth.header()).toBe(basic("alice:s3cret:with:colons"));
    expect(auth.describe()).toBe("alice:***");
    expect(auth.refresh()).toBe(false);
  }, T);

  test("refuses a value without a colon", () => {
    expect(() => fromUserPass("alice")).toThrow(ConfigError);
  }, T);
});

describe("fromCookieFile", () => {
  test("reads __cookie__:hex, ignoring a trailing newline", () => {
    const path = cookiePath("__cookie__:0123abcd\n");
    const auth = fromCookieFile(path);
    expect(auth.header()).toBe(basic("__cookie__:0123abcd"));
    expect(auth.describe()).toBe(`cookie file ${path}`);
    expect(auth.describe()).not.toContain("0123abcd");
  }, T);

  test("refresh() reports whether the node wrote a new cookie", () => {
    const path = cookiePath("__cookie__:aa");
    const auth = fromCookieFile(path);
    expect(auth.refresh()).toBe(false);
    writeFileSync(path, "__cookie__:bb");
    expect(auth.refresh()).toBe(true);
    expect(auth.header()).toBe(basic("__cookie__:bb"));
    expect(auth.refresh()).toBe(false);
  }, T);

  test("a cookie deleted while the node restarts keeps the old value", () => {
    const path = cookiePath("__cookie__:aa");
    const auth = fromCookieFile(path);
    unlinkSync(path);
    expect(auth.refresh()).toBe(false);
    expect(auth.header()).toBe(basic("__cookie__:aa"));
    writeFileSync(path, "__cookie__:cc");
    expect(auth.refresh()).toBe(true);
  }, T);

  test("a missing file is a clear error naming the path", () => {
    const path = cookiePath();
    expect(() => fromCookieFile(path)).toThrow(ConfigError);
    expect(() => fromCookieFile(path)).toThrow(`cannot read the bitcoind cookie file ${path}: no such file`);
  }, T);

  test("a file without user:password is refused", () => {
    const path = cookiePath("garbage");
    expect(() => fromCookieFile(path)).toThrow(`the bitcoind cookie file ${path} does not hold user:password`);
  }, T);

  test("a directory instead of a file is an error naming the path", () => {
    const dir = mkdtempSync(join(tmpdir(), "cookie-test-"));
    dirs.push(dir);
    expect(() => fromCookieFile(dir)).toThrow(`cannot read the bitcoind cookie file ${dir}: EISDIR`);
  }, T);
});
