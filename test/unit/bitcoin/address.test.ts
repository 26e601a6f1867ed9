import { describe, expect, test } from "bun:test";
import * as bitcoinjs from "bitcoinjs-lib";
import expectedJson from "../../fixtures/regtest-core30/expected.json" with { type: "json" };
import { addressOf, addressToScript } from "../../../src/bitcoin/address.ts";
import { bytesToHex, hexToBytes } from "../../../src/bitcoin/bytes.ts";
import { sha256d } from "../../../src/bitcoin/hash.ts";
import { NETWORK_NAMES, NETWORKS, type NetworkParams } from "../../../src/bitcoin/network.ts";
import { AddressError } from "../../../src/errors.ts";

interface FixtureScript {
  readonly script: string;
  readonly type: string;
  /** Core's address, null when it gives none. */
  readonly address: string | null;
}
const fixture = expectedJson as unknown as { readonly scripts: readonly FixtureScript[] };

const { mainnet, testnet, testnet4, regtest, signet } = NETWORKS;
const of = (hex: string, net: NetworkParams = mainnet) => addressOf(hexToBytes(hex), net);
const toScript = (address: string, net: NetworkParams = mainnet) => bytesToHex(addressToScript(address, net));

/** The message addressToScript throws for `address` (fails the test if it does not throw AddressError). */
function errorOf(address: string, net: NetworkParams = mainnet): string {
  try {
    addressToScript(address, net);
  } catch (e) {
    expect(e).toBeInstanceOf(AddressError);
    return (e as Error).message;
  }
  throw new Error(`${address} was accepted on ${net.name}`);
}

/** Independent base58check encoder (BigInt) to build test addresses with arbitrary payloads. */
function base58check(payload: Uint8Array): string {
  const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  const data = new Uint8Array(payload.length + 4);
  data.set(payload);
  data.set(sha256d(payload).subarray(0, 4), payload.length);
  let n = BigInt(`0x${bytesToHex(data) || "0"}`);
  let out = "";
  while (n > 0n) {
    out = alphabet[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (let i = 0; i < data.length && data[i] === 0; i++) out = `1${out}`;
  return out;
}

const H20 = "62e907b15cbf27d5425399ebf6f0fb50ebb88f18";

describe("addressOf / addressToScript on the regtest fixture (Core 30's addresses)", () => {
  test("every script with an address: same address as Core, and back to the same script", () => {
    let withAddress = 0;
    for (const s of fixture.scripts) {
      if (s.address === null) continue;
      withAddress++;
      expect([s.script, of(s.script, regtest)]).toEqual([s.script, s.address]);
      expect(toScript(s.address, regtest)).toBe(s.script);
    }
    expect(withAddress).toBeGreaterThan(800);
  });

  test("scripts Core gives no address have none here either (P2PK, bare multisig, OP_TRUE, empty)", () => {
    const without = fixture.scripts.filter((s) => s.address === null);
    expect(without.map((s) => s.type).sort()).toEqual(["multisig", "nonstandard", "nonstandard", "pubkey", "pubkey", "pubkey"]);
    for (const s of without) expect(of(s.script, regtest)).toBeNull();
  });

  test("the pay-to-anchor and witness v2 outputs get bech32m addresses", () => {
    expect(of("51024e73", regtest)).toBe("bcrt1pfeesnyr2tx");
    expect(of("52204187f32ba845a5b64b74b3527f791d064f62576bcb30421b40e6ba82fa35f79b", regtest)).toBe(
      "bcrt1zgxrlx2aggkjmvjm5kdf877gaqe8ky4mtevcyyx6qu6ag973477dsglp6gf",
    );
  });
});

describe("mainnet addresses", () => {
  test("known addresses", () => {
    // Genesis coinbase: P2PK, no address.
    expect(of("4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac")).toBeNull();
    // Satoshi's address: hash160 of the genesis key.
    expect(of(`76a914${H20}88ac`)).toBe("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa");
    expect(toScript("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")).toBe(`76a914${H20}88ac`);
  });

  // rust-bitcoin bitcoin/src/address/mod.rs tests (test_p2pkh_address_58, test_p2sh_address_58,
  // test_p2wpkh, test_p2wsh, test_address_type, test_non_existent_segwit_version).
  test("rust-bitcoin address vectors", () => {
    expect(of("76a914162c5ea71c0b23f5b9022ef047c4a86470a5b07088ac")).toBe("132F25rTsvBdp9JzLLBHP5mvGY66i1xdiM");
    expect(of("a914162c5ea71c0b23f5b9022ef047c4a86470a5b07087")).toBe("33iFwdLuRpW1uK1RTRqsoi8rR4NpDzk66k");
    expect(of("a914162c5ea71c0b23f5b9022ef047c4a86470a5b07087", testnet)).toBe(
      base58check(hexToBytes("c4162c5ea71c0b23f5b9022ef047c4a86470a5b070")),
    );
    for (const [address, net] of [
      ["132F25rTsvBdp9JzLLBHP5mvGY66i1xdiM", mainnet],
      ["1QJVDzdqb1VpbDK7uDeyVXy9mR27CJiyhY", mainnet],
      ["33iFwdLuRpW1uK1RTRqsoi8rR4NpDzk66k", mainnet],
      ["3QBRmWNqqBGme9er7fMkGqtZtp4gjMFxhE", mainnet],
      ["36EqgNnsWW94SreZgBWc1ANC6wpFZwirHr", mainnet],
      ["bc1qvzvkjn4q3nszqxrv3nraga2r822xjty3ykvkuw", mainnet],
      ["bc1qwqdg6squsna38e46795at95yu9atm8azzmyvckulcc7kytlcckxswvvzej", mainnet],
      ["bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr", mainnet],
      ["bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", mainnet],
      ["bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", mainnet],
      ["mqkhEMH6NCeYjFybv7pvFC22MFeaNT9AQC", testnet],
      ["2N3zXjbwdTcPsJiy8sUK9FhWJhqQCxA8Jjr", testnet],
      ["2N83imGV3gPwBzKJQvWJ7cRUY2SpUyU6A5e", testnet],
      ["tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", testnet],
    ] as const) {
      expect(of(toScript(address, net), net)).toBe(address);
    }
    // A 40-byte program of witness version 13.
    const program = "654f6ea368e0acdfd92976b7c2103a1b26313f430654f6ea368e0acdfd92976b7c2103a1b26313f4";
    const address = of(`5d28${program}`)!;
    expect(address.startsWith("bc1d")).toBe(true);
    expect(toScript(address)).toBe(`5d28${program}`);
  });

  test("agrees with bitcoinjs-lib for standard types", () => {
    for (let i = 0; i < 50; i++) {
      const h20 = crypto.getRandomValues(new Uint8Array(20));
      const h32 = crypto.getRandomValues(new Uint8Array(32));
      // Leading zero bytes (more leading '1's in base58) and all-0xff hashes too.
      h20.fill(0, 0, i % 5);
      if (i === 49) h20.fill(0xff);
      for (const [net, jsNet] of [
        [mainnet, bitcoinjs.networks.bitcoin],
        [testnet, bitcoinjs.networks.testnet],
        [regtest, bitcoinjs.networks.regtest],
      ] as const) {
        for (const script of [
          bitcoinjs.payments.p2pkh({ hash: h20 }).output!,
          bitcoinjs.payments.p2sh({ hash: h20 }).output!,
          bitcoinjs.payments.p2wpkh({ hash: h20 }).output!,
          bitcoinjs.payments.p2wsh({ hash: h32 }).output!,
        ]) {
          expect(addressOf(script, net)).toBe(bitcoinjs.address.fromOutputScript(script, jsNet));
        }
      }
    }
  });

  test("witness programs: every version and length rust-bitcoin accepts, nothing else", () => {
    const program = (len: number) => "ab".repeat(len);
    const opOf = (v: number) => (v === 0 ? "00" : (0x50 + v).toString(16));
    for (let v = 0; v <= 16; v++) {
      for (let len = 1; len <= 41; len++) {
        const script = `${opOf(v)}${len.toString(16).padStart(2, "0")}${program(len)}`;
        const valid = len >= 2 && len <= 40 && (v !== 0 || len === 20 || len === 32);
        const address = of(script);
        expect([script, address !== null]).toEqual([script, valid]);
        if (address !== null) expect(toScript(address)).toBe(script);
      }
    }
    // A v1 program that is not a valid x-only key still gets an address (bitcoinjs-lib's
    // fromOutputScript refuses it; its plain bech32m encoder is the oracle here).
    expect(of(`5120${"00".repeat(32)}`)).toBe(bitcoinjs.address.toBech32(new Uint8Array(32), 1, "bc"));
    // Not witness programs: OP_1NEGATE/OP_RESERVED version, push opcode not matching the length,
    // PUSHDATA1 instead of a direct push, trailing byte.
    expect(of(`4f14${H20}`)).toBeNull();
    expect(of(`5014${H20}`)).toBeNull();
    expect(of(`0015${H20}`)).toBeNull();
    expect(of(`004c14${H20}`)).toBeNull();
    expect(of(`0014${H20}00`)).toBeNull();
    expect(of("6a0474657374")).toBeNull();
    expect(of("")).toBeNull();
  });
});

describe("BIP173 / BIP350 test vectors", () => {
  // Valid segwit addresses with their scriptPubKeys: BIP350 "Test vectors for v0-v16 native
  // segregated witness addresses" (bitcoin/bips bip-0350.mediawiki).
  const VALID: readonly (readonly [string, string])[] = [
    ["BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"],
    ["tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"],
    [
      "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
      "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    ],
    ["BC1SW50QGDZ25J", "6002751e"],
    ["bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"],
    ["tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy", "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"],
    ["tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c", "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"],
    ["bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"],
  ];

  test("valid addresses decode to their scriptPubKey and encode back in lower case", () => {
    for (const [address, script] of VALID) {
      const net = address.toLowerCase().startsWith("bc1") ? mainnet : testnet;
      expect([address, toScript(address, net)]).toEqual([address, script]);
      expect(of(script, net)).toBe(address.toLowerCase());
    }
  });

  // Invalid addresses with the reason the BIP gives, and the error electrs answers. rust-bitcoin
  // 0.32 tries base58 whenever segwit decoding fails, so most of these end in a base58 error (or
  // the 50-byte length limit); only a valid string with an unknown HRP gets its own message.
  const TOO_LONG = "legacy address base58 string";
  const BASE58 = "base58 error";
  const UNKNOWN_HRP = "tried to parse an unknown hrp";
  // BIP350 (bitcoin/bips bip-0350.mediawiki, "The following list gives invalid segwit addresses").
  const INVALID_BIP350: readonly (readonly [string, string, string])[] = [
    ["tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", "Invalid human-readable part", UNKNOWN_HRP],
    ["bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "Invalid checksum (Bech32 instead of Bech32m)", TOO_LONG],
    ["tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf", "Invalid checksum (Bech32 instead of Bech32m)", TOO_LONG],
    ["BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", "Invalid checksum (Bech32 instead of Bech32m)", TOO_LONG],
    ["bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "Invalid checksum (Bech32m instead of Bech32)", BASE58],
    ["tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47", "Invalid checksum (Bech32m instead of Bech32)", TOO_LONG],
    ["bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", "Invalid character in checksum", TOO_LONG],
    ["BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", "Invalid witness version", TOO_LONG],
    ["bc1pw5dgrnzv", "Invalid program length (1 byte)", BASE58],
    ["bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav", "Invalid program length (41 bytes)", TOO_LONG],
    ["BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "Invalid program length for witness version 0 (per BIP141)", BASE58],
    ["tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq", "Mixed case", TOO_LONG],
    ["bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", "zero padding of more than 4 bits", TOO_LONG],
    ["tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j", "Non-zero padding in 8-to-5 conversion", TOO_LONG],
    ["bc1gmk9yu", "Empty data section", BASE58],
  ];
  // BIP173 (bitcoin/bips bip-0173.mediawiki, "The following list gives invalid segwit addresses"),
  // plus its three v1+ "valid" addresses, which BIP350 made invalid (bech32 checksum on v1+).
  const INVALID_BIP173: readonly (readonly [string, string, string])[] = [
    ["tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", "Invalid human-readable part", UNKNOWN_HRP],
    ["bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "Invalid checksum", BASE58],
    ["BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", "Invalid witness version", BASE58],
    ["bc1rw5uspcuh", "Invalid program length", BASE58],
    ["bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90", "Invalid program length", TOO_LONG],
    ["BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "Invalid program length for witness version 0 (per BIP141)", BASE58],
    ["tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7", "Mixed case", TOO_LONG],
    ["bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", "zero padding of more than 4 bits", BASE58],
    ["tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv", "Non-zero padding in 8-to-5 conversion", TOO_LONG],
    ["bc1gmk9yu", "Empty data section", BASE58],
    ["bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx", "v1 with a bech32 checksum", TOO_LONG],
    ["BC1SW50QA3JX3S", "v16 with a bech32 checksum", BASE58],
    ["bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj", "v2 with a bech32 checksum", BASE58],
  ];

  test("invalid addresses are refused on every network with electrs' message", () => {
    for (const [address, reason, message] of [...INVALID_BIP350, ...INVALID_BIP173]) {
      for (const net of [mainnet, testnet, regtest]) {
        expect([address, reason, errorOf(address, net)]).toEqual([address, reason, message]);
      }
    }
  });

  test("the messages follow from the length: base58 is only tried up to 50 bytes", () => {
    for (const [address, , message] of [...INVALID_BIP350, ...INVALID_BIP173]) {
      if (message !== UNKNOWN_HRP) expect(message).toBe(address.length > 50 ? TOO_LONG : BASE58);
    }
  });
});

describe("addressToScript errors and networks", () => {
  const p2pkhTest = "mqkhEMH6NCeYjFybv7pvFC22MFeaNT9AQC";
  const p2shTest = "2N3zXjbwdTcPsJiy8sUK9FhWJhqQCxA8Jjr";
  const tb = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7";
  const bcrt = "bcrt1qt94rsguawm9k4zfuufq7mpefj0v7ct3a024rl7";
  const bc = "bc1qvzvkjn4q3nszqxrv3nraga2r822xjty3ykvkuw";
  const main = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa";

  test("network rules of rust-bitcoin is_valid_for_network", () => {
    const accepted = (address: string) => NETWORK_NAMES.filter((n) => {
      try {
        addressToScript(address, NETWORKS[n]);
        return true;
      } catch (e) {
        expect((e as Error).message).toBe("Address on invalid network");
        return false;
      }
    });
    // Base58 test versions are shared by every test network, regtest included.
    expect(accepted(p2pkhTest)).toEqual(["testnet", "testnet4", "regtest", "signet"]);
    expect(accepted(p2shTest)).toEqual(["testnet", "testnet4", "regtest", "signet"]);
    // HRP "tb" is testnet, testnet4 and signet; regtest has its own.
    expect(accepted(tb)).toEqual(["testnet", "testnet4", "signet"]);
    expect(accepted(bcrt)).toEqual(["regtest"]);
    expect(accepted(bc)).toEqual(["mainnet"]);
    expect(accepted(bc.toUpperCase())).toEqual(["mainnet"]);
    expect(accepted(main)).toEqual(["mainnet"]);
    expect(accepted("33iFwdLuRpW1uK1RTRqsoi8rR4NpDzk66k")).toEqual(["mainnet"]);
    // The same script whatever the accepting network.
    for (const net of [testnet, testnet4, regtest, signet]) expect(toScript(p2shTest, net)).toBe(toScript(p2shTest, testnet));
  });

  test("base58 failures", () => {
    expect(errorOf("1".repeat(51))).toBe("legacy address base58 string");
    expect(errorOf(`${main}1`.padEnd(51, "1"))).toBe("legacy address base58 string");
    expect(errorOf("")).toBe("base58 error");
    expect(errorOf("nope")).toBe("base58 error");
    expect(errorOf("1".repeat(50))).toBe("base58 error"); // 50 zero bytes, bad checksum
    expect(errorOf("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb")).toBe("base58 error"); // checksum
    expect(errorOf("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfN0")).toBe("base58 error"); // '0' is not base58
    expect(errorOf("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNl")).toBe("base58 error"); // nor is 'l'
    expect(errorOf(` ${main}`)).toBe("base58 error"); // no trimming
    expect(errorOf(`${main}\u00e9`)).toBe("base58 error");
    // Payload of the wrong length.
    expect(errorOf(base58check(hexToBytes(`00${H20}00`)))).toBe("legacy address base58 data");
    expect(errorOf(base58check(hexToBytes(`00${H20.slice(2)}`)))).toBe("legacy address base58 data");
    expect(errorOf(base58check(new Uint8Array(0)))).toBe("legacy address base58 data");
    // Version bytes of no Bitcoin network: Litecoin L... (0x30), Dogecoin D... (0x1e).
    expect(errorOf(bitcoinjs.address.toBase58Check(hexToBytes(H20), 0x30))).toBe("legacy address base58 prefix");
    expect(errorOf(base58check(hexToBytes(`1e${H20}`)))).toBe("legacy address base58 prefix");
    expect(toScript(base58check(hexToBytes(`00${H20}`)))).toBe(`76a914${H20}88ac`);
  });

  test("the 50-byte limit counts UTF-8 bytes, as Rust's str::len", () => {
    // 26 two-byte characters: 26 UTF-16 units but 52 bytes.
    expect(errorOf("\u00e9".repeat(26))).toBe("legacy address base58 string");
    expect(errorOf("\u00e9".repeat(25))).toBe("base58 error");
  });

  test("bech32 failures and case rules", () => {
    // A well-formed address with an HRP rust-bitcoin does not know (rust-bitcoin refuses it before
    // electrs' network check). Any case is accepted, but not a mix.
    const ltc = bitcoinjs.address.toBech32(hexToBytes(H20), 0, "ltc");
    expect(errorOf(ltc)).toBe("tried to parse an unknown hrp");
    expect(errorOf(ltc.toUpperCase())).toBe("tried to parse an unknown hrp");
    expect(toScript(bc.toUpperCase())).toBe(toScript(bc));
    expect(errorOf(`${bc.slice(0, 10)}${bc.slice(10).toUpperCase()}`)).toBe("base58 error");
    expect(errorOf(`BC${bc.slice(2)}`)).toBe("base58 error");
    // U+212A KELVIN SIGN lower-cases to ASCII "k" in JS; rust-bitcoin refuses the non-ASCII string.
    const upper = bcrt.toUpperCase();
    expect(upper.includes("K")).toBe(true);
    expect(errorOf(upper.replace("K", "\u212a"), regtest)).toBe("base58 error");
    expect(toScript(upper, regtest)).toBe(toScript(bcrt, regtest));
    // Wrong network beats nothing else: checked last.
    expect(errorOf(bcrt)).toBe("Address on invalid network");
  });
});
