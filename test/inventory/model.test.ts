import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rowsFromCsv, validateImportRows } from "../../src/inventory/expected-machine-import.ts";
import { normalizeMac } from "../../src/inventory/mac-address.ts";
import { rackStatusChange } from "../../src/inventory/rack-model.ts";

describe("inventory model", () => {
  it("normalises MAC addresses written in the usual ways and refuses the rest", () => {
    for (const input of ["AA:BB:CC:DD:EE:0F", "aa-bb-cc-dd-ee-0f", "aabbccddee0f", " AaBbCcDdEe0F "])
      assert.equal(normalizeMac(input), "aa:bb:cc:dd:ee:0f", input);
    for (const input of ["aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:0g", "aabb.ccdd.ee0f", "", "aa:bb:cc:dd:ee:0f:00"])
      assert.equal(normalizeMac(input), undefined, input);
  });

  it("moves rack status forward only", () => {
    assert.deepEqual(rackStatusChange("new", "ingesting"), { kind: "forward" });
    assert.deepEqual(rackStatusChange("new", "ingested"), { kind: "forward" });
    assert.deepEqual(rackStatusChange("ingesting", "ingesting"), { kind: "unchanged" });
    assert.deepEqual(rackStatusChange("ingested", "ingesting"), {
      kind: "backwards",
      from: "ingested",
      to: "ingesting",
    });
    assert.equal(rackStatusChange("ingesting", "new").kind, "backwards");
  });

  it("reads CSV with a byte-order mark, headers in any spelling and order, and empty lines", () => {
    const parsed = rowsFromCsv("\uFEFFBMC-MAC,Serial, Host Name ,SLOT\n\n01:02:03:04:05:06,S1,h1,7\n\n");
    assert.ok(parsed.ok, JSON.stringify(parsed));
    const valid = validateImportRows(parsed.value);
    assert.ok(valid.ok, JSON.stringify(valid));
    assert.deepEqual(valid.value[0], {
      index: 0,
      serial: "S1",
      bmcMac: "01:02:03:04:05:06",
      bmcAddress: null,
      bmcProtocol: null,
      bmcUsername: null,
      bmcPassword: null,
      specProfile: null,
      spec: null,
      rack: null,
      slot: 7,
      hostname: "h1",
      labels: {},
    });
  });

  it("reports every bad row of a file, not just the first", () => {
    const parsed = rowsFromCsv("serial,slot,hostname\nA,1,ok\nB,x,ok\nC,2,bad host\nA,3,ok\n");
    assert.ok(parsed.ok);
    const valid = validateImportRows(parsed.value);
    assert.ok(!valid.ok);
    assert.deepEqual(
      valid.errors.map((error) => error.field),
      ["rows[1].slot", "rows[2].hostname", "rows[3].serial"],
    );
    assert.match(valid.errors[2]?.message ?? "", /duplicates the serial of rows\[0\] \(line 5\)/);
  });
});
