import { describe, expect, test } from "bun:test";
import expectedJson from "../../fixtures/regtest-core30/expected.json" with { type: "json" };
import { parseTxExact } from "../../../src/bitcoin/block.ts";
import { bytesToHex, hashToHex, hexToBytes } from "../../../src/bitcoin/bytes.ts";
import { sha256 } from "../../../src/bitcoin/hash.ts";
import { innerRedeemScript, innerWitnessScript, scriptAsm, scriptType, type ScriptType } from "../../../src/bitcoin/script.ts";

interface FixtureScript {
  readonly script: string;
  readonly type: string;
}
const fixture = expectedJson as unknown as {
  readonly scripts: readonly FixtureScript[];
  readonly txs: Readonly<Record<string, { readonly hex: string }>>;
};

/** scriptAsm of a script given as hex, checked to be the same when the caller passes the script's hex along (json.ts). */
const asm = (hex: string) => {
  const script = hexToBytes(hex);
  const text = scriptAsm(script);
  expect(scriptAsm(script, bytesToHex(script))).toBe(text);
  return text;
};
const type = (hex: string) => scriptType(hexToBytes(hex));
const H20 = "62e907b15cbf27d5425399ebf6f0fb50ebb88f18";
const H32 = "5680531c21f9a899410380ee96e45a3f3f5b59d5c50471c3c565aedd6f6c1ea3";

describe("scriptType", () => {
  // Core's type names (getrawtransaction/scantxoutset) → what electrs reports for the same script.
  const FROM_CORE: Readonly<Record<string, ScriptType>> = {
    witness_v0_keyhash: "v0_p2wpkh",
    witness_v0_scripthash: "v0_p2wsh",
    witness_v1_taproot: "v1_p2tr",
    scripthash: "p2sh",
    pubkeyhash: "p2pkh",
    pubkey: "p2pk",
    nulldata: "op_return",
    // electrs (BS) has no names for these.
    multisig: "unknown",
    anchor: "unknown",
    witness_unknown: "unknown",
  };

  test("every script of the regtest fixture is classified like Core classified it", () => {
    const seen = new Set<string>();
    for (const s of fixture.scripts) {
      const want = s.type === "nonstandard" ? (s.script === "" ? "empty" : "unknown") : FROM_CORE[s.type];
      expect(want).toBeDefined();
      expect([s.script, type(s.script)]).toEqual([s.script, want!]);
      seen.add(s.type);
    }
    // The fixture really covers these kinds (guards against a silently shrunken fixture).
    expect([...seen].sort()).toEqual(
      ["anchor", "multisig", "nonstandard", "pubkey", "pubkeyhash", "scripthash", "witness_unknown", "witness_v0_keyhash", "witness_v0_scripthash", "witness_v1_taproot"],
    );
  });

  test("op_return is any script starting with 0x6a, before every other test", () => {
    expect(type("6a")).toBe("op_return");
    expect(type("6a0474657374")).toBe("op_return");
    expect(type("6a4c")).toBe("op_return"); // truncated push after it: still op_return
  });

  test("p2pk is rust-bitcoin's shape check: no key prefix or curve check", () => {
    // Genesis coinbase output.
    expect(type("4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac")).toBe("p2pk");
    expect(type(`21${"02".padEnd(66, "1")}ac`)).toBe("p2pk");
    expect(type(`21${"05".padEnd(66, "1")}ac`)).toBe("p2pk");
    expect(type(`41${"00".repeat(65)}ac`)).toBe("p2pk");
    expect(type(`21${"02".padEnd(66, "1")}ad`)).toBe("unknown"); // OP_CHECKSIGVERIFY
    expect(type(`20${"02".repeat(32)}ac`)).toBe("unknown");
    expect(type(`21${"02".repeat(33)}acac`)).toBe("unknown");
  });

  test("hash and witness templates are exact byte patterns", () => {
    expect(type(`76a914${H20}88ac`)).toBe("p2pkh");
    expect(type(`76a914${H20}88ad`)).toBe("unknown");
    expect(type(`76a913${H20.slice(2)}88ac`)).toBe("unknown");
    expect(type(`a914${H20}87`)).toBe("p2sh");
    expect(type(`a914${H20}88`)).toBe("unknown");
    expect(type(`0014${H20}`)).toBe("v0_p2wpkh");
    expect(type(`0020${H32}`)).toBe("v0_p2wsh");
    expect(type(`5120${H32}`)).toBe("v1_p2tr");
    // Valid witness programs of other shapes have no electrs name.
    expect(type(`0013${H20.slice(2)}`)).toBe("unknown");
    expect(type(`5114${H20}`)).toBe("unknown");
    expect(type("51024e73")).toBe("unknown");
    expect(type(`5220${H32}`)).toBe("unknown");
    expect(type(`5121${H32}00`)).toBe("unknown");
    expect(type("00")).toBe("unknown");
    expect(type("51")).toBe("unknown");
    expect(type("")).toBe("empty");
  });
});

describe("scriptAsm", () => {
  // rust-bitcoin's own expectations: bitcoin/src/blockdata/script/tests.rs `script_asm` (0.31/0.32,
  // rust-bitcoin/rust-bitcoin) and the primitives crate's `script_display*` / `legacy_opcode` tests.
  test("rust-bitcoin script_asm vectors", () => {
    expect(asm("6363636363686868686800")).toBe("OP_IF OP_IF OP_IF OP_IF OP_IF OP_ENDIF OP_ENDIF OP_ENDIF OP_ENDIF OP_ENDIF OP_0");
    expect(asm("2102715e91d37d239dea832f1460e91e368115d8ca6cc23a7da966795abad9e3b699ac")).toBe(
      "OP_PUSHBYTES_33 02715e91d37d239dea832f1460e91e368115d8ca6cc23a7da966795abad9e3b699 OP_CHECKSIG",
    );
    const redeem =
      "552103244e602b46755f24327142a0517288cebd159eccb6ccf41ea6edf1f601e9af952103bbbacc302d19d29dbfa62d23f37944ae19853cf260c745c2bea739c95328fcb721039227e83246bd51140fe93538b2301c9048be82ef2fb3c7fc5d78426ed6f609ad210229bf310c379b90033e2ecb07f77ecf9b8d59acb623ab7be25a0caed539e2e6472103703e2ed676936f10b3ce9149fa2d4a32060fb86fa9a70a4efe3f21d7ab90611921031e9b7c6022400a6bb0424bbcde14cff6c016b91ee3803926f3440abf5c146d05210334667f975f55a8455d515a2ef1c94fdfa3315f12319a14515d2a13d82831f62f57ae";
    const sig =
      "304402202457e78cc1b7f50d0543863c27de75d07982bde8359b9e3316adec0aec165f2f02200203fd331c4e4a4a02f48cf1c291e2c0d6b2f7078a784b5b3649fca41f8794d401";
    expect(asm(`0047${sig}004cf1${redeem}`)).toBe(`OP_0 OP_PUSHBYTES_71 ${sig} OP_0 OP_PUSHDATA1 ${redeem}`);
    // Truncated scripts from tx 6d7ed9914625c73c0288694a6819196a27ef6c08f98e1270d975a8e65a3dc09a.
    expect(asm("01")).toBe("OP_PUSHBYTES_1 <push past end>");
    expect(asm("0201")).toBe("OP_PUSHBYTES_2 <push past end>");
    expect(asm("4c")).toBe("<unexpected end>");
    expect(asm("4c0201")).toBe("OP_PUSHDATA1 <push past end>");
    expect(asm("4d")).toBe("<unexpected end>");
    expect(asm("4dffff01")).toBe("OP_PUSHDATA2 <push past end>");
    expect(asm("4effffffff01")).toBe("OP_PUSHDATA4 <push past end>");
    // Display tests.
    expect(asm("00a1b2")).toBe("OP_0 OP_LESSTHANOREQUAL OP_CSV");
    expect(asm("4c02abcd")).toBe("OP_PUSHDATA1 abcd");
    expect(asm("4d02001234")).toBe("OP_PUSHDATA2 1234");
    expect(asm("4e020000005678")).toBe("OP_PUSHDATA4 5678");
    expect(asm("03aabbcc")).toBe("OP_PUSHBYTES_3 aabbcc");
    expect(asm("4c02")).toBe("OP_PUSHDATA1 <push past end>");
  });

  test("standard output scripts", () => {
    expect(asm(`76a914${H20}88ac`)).toBe(`OP_DUP OP_HASH160 OP_PUSHBYTES_20 ${H20} OP_EQUALVERIFY OP_CHECKSIG`);
    expect(asm(`a914${H20}87`)).toBe(`OP_HASH160 OP_PUSHBYTES_20 ${H20} OP_EQUAL`);
    expect(asm(`0014${H20}`)).toBe(`OP_0 OP_PUSHBYTES_20 ${H20}`);
    expect(asm(`5120${H32}`)).toBe(`OP_PUSHNUM_1 OP_PUSHBYTES_32 ${H32}`);
    expect(asm("51024e73")).toBe("OP_PUSHNUM_1 OP_PUSHBYTES_2 4e73");
    expect(asm("6a0474657374")).toBe("OP_RETURN OP_PUSHBYTES_4 74657374");
    expect(asm("")).toBe("");
  });

  test("cut-off PUSHDATA lengths print <unexpected end> glued to the previous opcode", () => {
    // rust-bitcoin writes it before the separator and the opcode name.
    expect(asm("514c")).toBe("OP_PUSHNUM_1<unexpected end>");
    expect(asm("514d01")).toBe("OP_PUSHNUM_1<unexpected end>");
    expect(asm("4e010000")).toBe("<unexpected end>");
    expect(asm("0001aa4e")).toBe("OP_0 OP_PUSHBYTES_1 aa<unexpected end>");
    // A push past the end stops the listing: later bytes are not shown.
    expect(asm("0351ac")).toBe("OP_PUSHBYTES_3 <push past end>");
  });

  test("zero-length and non-minimal pushes are shown as written", () => {
    expect(asm("4c00")).toBe("OP_PUSHDATA1");
    expect(asm("4d0000")).toBe("OP_PUSHDATA2");
    expect(asm("4e0000000051")).toBe("OP_PUSHDATA4 OP_PUSHNUM_1");
    expect(asm("4c0169b2")).toBe("OP_PUSHDATA1 69 OP_CSV");
    expect(asm("0100")).toBe("OP_PUSHBYTES_1 00");
  });

  test("names of every non-push opcode (rust-bitcoin opcodes.rs)", () => {
    const name = (b: number) => scriptAsm(new Uint8Array([b]));
    expect(name(0x4f)).toBe("OP_PUSHNUM_NEG1");
    expect(name(0x50)).toBe("OP_RESERVED");
    expect(name(0x51)).toBe("OP_PUSHNUM_1");
    expect(name(0x60)).toBe("OP_PUSHNUM_16");
    expect(name(0x61)).toBe("OP_NOP");
    expect(name(0x62)).toBe("OP_VER");
    expect(name(0x65)).toBe("OP_VERIF");
    expect(name(0x66)).toBe("OP_VERNOTIF");
    expect(name(0x6a)).toBe("OP_RETURN");
    expect(name(0x7e)).toBe("OP_CAT");
    expect(name(0x87)).toBe("OP_EQUAL");
    expect(name(0x89)).toBe("OP_RESERVED1");
    expect(name(0x8a)).toBe("OP_RESERVED2");
    expect(name(0x9f)).toBe("OP_LESSTHAN");
    expect(name(0xa5)).toBe("OP_WITHIN");
    expect(name(0xab)).toBe("OP_CODESEPARATOR");
    expect(name(0xae)).toBe("OP_CHECKMULTISIG");
    expect(name(0xaf)).toBe("OP_CHECKMULTISIGVERIFY");
    expect(name(0xb0)).toBe("OP_NOP1");
    expect(name(0xb1)).toBe("OP_CLTV");
    expect(name(0xb2)).toBe("OP_CSV");
    expect(name(0xb3)).toBe("OP_NOP4");
    expect(name(0xb9)).toBe("OP_NOP10");
    expect(name(0xba)).toBe("OP_CHECKSIGADD");
    expect(name(0xbb)).toBe("OP_RETURN_187");
    expect(name(0xfe)).toBe("OP_RETURN_254");
    expect(name(0xff)).toBe("OP_INVALIDOPCODE");
    // Every byte has its own name (no gap or shift in the table).
    const names = new Set<string>();
    for (let b = 0x4f; b <= 0xff; b++) {
      const n = name(b);
      expect(n).toMatch(/^OP_[0-9A-Z_]+$/);
      names.add(n);
    }
    expect(names.size).toBe(0xff - 0x4f + 1);
    expect(scriptAsm(new Uint8Array([0x4b, ...new Array<number>(75).fill(0xab)]))).toBe(`OP_PUSHBYTES_75 ${"ab".repeat(75)}`);
  });
});

describe("inner scripts", () => {
  const P2SH = hexToBytes(`a914${H20}87`);
  const P2WSH = hexToBytes(`0020${H32}`);
  const P2WPKH = hexToBytes(`0014${H20}`);
  const inner = (sigHex: string, prevout = P2SH) => {
    const r = innerRedeemScript(hexToBytes(sigHex), prevout);
    return r === null ? null : bytesToHex(r);
  };

  test("redeem script: last push of the scriptSig of a P2SH spend only", () => {
    expect(inner(`0047${"11".repeat(71)}03aabbcc`)).toBe("aabbcc");
    expect(inner(`4c03aabbcc`)).toBe("aabbcc");
    expect(inner(`4d0300aabbcc`)).toBe("aabbcc");
    expect(inner(`4e03000000aabbcc`)).toBe("aabbcc");
    expect(inner("00")).toBe(""); // OP_0 is an empty push
    expect(inner("03aabbcc51")).toBeNull(); // ends with OP_1: not a push
    expect(inner("03aabbcc4f")).toBeNull(); // OP_1NEGATE
    expect(inner("5103aabbcc")).toBe("aabbcc");
    expect(inner("")).toBeNull();
    expect(inner("03aabb")).toBeNull(); // truncated push: the instruction iterator errs
    expect(inner("01aa4c")).toBeNull(); // truncated PUSHDATA1 length
    expect(inner("03aabbcc", P2WSH)).toBeNull();
    expect(inner("03aabbcc", P2WPKH)).toBeNull();
    expect(inner("03aabbcc", hexToBytes(`a914${H20}88`))).toBeNull();
  });

  test("witness script: last witness item of P2WSH and P2SH-P2WSH spends", () => {
    const items = [new Uint8Array(0), hexToBytes("aa"), hexToBytes("5151ae")];
    expect(innerWitnessScript(items, P2WSH, null)).toBe(items[2]!);
    expect(innerWitnessScript([], P2WSH, null)).toBeNull();
    expect(innerWitnessScript(items, P2SH, P2WSH)).toBe(items[2]!);
    expect(innerWitnessScript(items, P2SH, P2WPKH)).toBeNull(); // P2SH-P2WPKH has no witness script
    expect(innerWitnessScript(items, P2SH, null)).toBeNull();
    expect(innerWitnessScript(items, P2WPKH, null)).toBeNull();
    expect(innerWitnessScript(items, hexToBytes(`5120${H32}`), null)).toBeNull(); // taproot: none
    // A redeem script only counts behind a P2SH prevout (electrs computes it for P2SH only).
    expect(innerWitnessScript(items, P2WPKH, P2WSH)).toBeNull();
  });

  test("every input of the regtest fixture: the inner scripts hash to what the prevout commits to", () => {
    const hash160 = (b: Uint8Array) => {
      const h = new Bun.CryptoHasher("ripemd160");
      h.update(sha256(b));
      return bytesToHex(h.digest() as Uint8Array);
    };
    const kinds = new Map<string, number>();
    for (const t of Object.values(fixture.txs)) {
      const tx = parseTxExact(hexToBytes(t.hex));
      if (tx.isCoinbase) continue;
      for (const input of tx.inputs) {
        const prev = fixture.txs[hashToHex(input.prevTxid)];
        expect(prev).toBeDefined();
        const prevout = parseTxExact(hexToBytes(prev!.hex)).outputs[input.prevVout]!.script;
        const redeem = innerRedeemScript(input.scriptSig, prevout);
        const witnessScript = innerWitnessScript(input.witness, prevout, redeem);
        const prevType = scriptType(prevout);
        if (prevType === "p2sh") {
          expect(redeem).not.toBeNull();
          expect(hash160(redeem!)).toBe(bytesToHex(prevout.subarray(2, 22)));
        } else {
          expect(redeem).toBeNull();
        }
        const program = prevType === "v0_p2wsh" ? prevout : redeem !== null && scriptType(redeem) === "v0_p2wsh" ? redeem : null;
        if (program !== null) {
          expect(witnessScript).not.toBeNull();
          expect(bytesToHex(sha256(witnessScript!))).toBe(bytesToHex(program.subarray(2)));
        } else {
          expect(witnessScript).toBeNull();
        }
        const kind = `${prevType}${redeem ? `/${scriptType(redeem)}` : ""}`;
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
    }
    // P2SH multisig, P2SH-P2WPKH, P2SH-P2WSH and P2WSH spends are all in the fixture.
    expect(kinds.get("p2sh/unknown")).toBeGreaterThan(0);
    expect(kinds.get("p2sh/v0_p2wpkh")).toBeGreaterThan(0);
    expect(kinds.get("p2sh/v0_p2wsh")).toBeGreaterThan(0);
    expect(kinds.get("v0_p2wsh")).toBeGreaterThan(0);
  });
});
