import { describe, expect, test } from "bun:test";
import { hexToBytes } from "../../../src/bitcoin/bytes.ts";
import { NETWORK_NAMES, NETWORKS, networkByMagic, parseNetworkName, type NetworkName } from "../../../src/bitcoin/network.ts";
import { ConfigError } from "../../../src/errors.ts";
import { expected } from "./fixture.ts";

describe("NETWORKS", () => {
  test("magic numbers are the file bytes read little-endian", () => {
    const le = (hex: string) => new DataView(hexToBytes(hex).buffer).getUint32(0, true);
    expect(NETWORKS.mainnet.magic).toBe(le("f9beb4d9"));
    expect(NETWORKS.testnet.magic).toBe(le("0b110907"));
    expect(NETWORKS.testnet4.magic).toBe(le("1c163f28"));
    expect(NETWORKS.regtest.magic).toBe(le("fabfb5da"));
    expect(NETWORKS.signet.magic).toBe(le("0a03cf40"));
  });

  test("regtest genesis matches the fixture", () => {
    expect(NETWORKS.regtest.genesisHashHex).toBe(expected.genesis);
    expect(NETWORKS.mainnet.genesisHashHex).toBe("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
  });

  test("ports, subdirs and address prefixes", () => {
    const rows = NETWORK_NAMES.map((n) => {
      const p = NETWORKS[n];
      return [p.name, p.daemonSubdir, p.ports.daemonRpc, p.ports.electrum, p.ports.http, p.ports.monitoring, p.bech32Hrp, p.p2pkhVersion, p.p2shVersion];
    });
    expect(rows).toEqual([
      ["mainnet", "", 8332, 50001, 3000, 4224, "bc", 0x00, 0x05],
      ["testnet", "testnet3", 18332, 60001, 3001, 14224, "tb", 0x6f, 0xc4],
      ["testnet4", "testnet4", 48332, 40001, 3004, 44224, "tb", 0x6f, 0xc4],
      ["regtest", "regtest", 18443, 60401, 3002, 24224, "bcrt", 0x6f, 0xc4],
      ["signet", "signet", 38332, 60601, 3003, 54224, "tb", 0x6f, 0xc4],
    ]);
  });

  test("the table is deeply frozen and keyed by name", () => {
    expect(Object.isFrozen(NETWORKS)).toBe(true);
    for (const n of NETWORK_NAMES) {
      expect(NETWORKS[n].name).toBe(n);
      expect(Object.isFrozen(NETWORKS[n])).toBe(true);
      expect(Object.isFrozen(NETWORKS[n].ports)).toBe(true);
    }
    expect(Object.keys(NETWORKS).sort()).toEqual([...NETWORK_NAMES].sort());
  });

  test("networkByMagic", () => {
    expect(networkByMagic(0xdab5bffa)?.name).toBe("regtest");
    expect(networkByMagic(0xd9b4bef9)?.name).toBe("mainnet");
    expect(networkByMagic(0)).toBeUndefined();
  });
});

describe("parseNetworkName", () => {
  test("accepts every valid name", () => {
    for (const n of NETWORK_NAMES) expect(parseNetworkName(n)).toBe(n as NetworkName);
  });

  test("rejects anything else with a ConfigError listing the valid names", () => {
    for (const bad of ["", "bitcoin", "Mainnet", "testnet3", " regtest"]) {
      expect(() => parseNetworkName(bad)).toThrow(ConfigError);
    }
    expect(() => parseNetworkName("bitcoin")).toThrow(
      'unknown network "bitcoin": expected one of mainnet, testnet, testnet4, regtest, signet',
    );
  });
});
