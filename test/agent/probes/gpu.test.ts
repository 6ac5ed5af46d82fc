import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  gpusFromPci,
  NVIDIA_SMI_QUERY_ARGS,
  parseNvidiaSmiQueryCsv,
  parseNvidiaSmiXml,
  probeNvidiaGpus,
} from "../../../agent/probes/gpu.ts";
import { parseLspciVmm } from "../../../agent/probes/pci.ts";
import { exited, local, probeContext, ReplayRunner, shared } from "../helpers.ts";

const H100 = {
  vendor: "NVIDIA",
  model: "NVIDIA H100 80GB HBM3",
  serialNumber: "1753024031847",
  uuid: "GPU-300fbec6-86c3-4d4a-4aa4-217e6de1df3b",
  memoryBytes: 81559 * 1024 * 1024,
  pciBusId: "0000:00:06.0",
  vbiosVersion: "96.00.DA.00.0C",
  driverVersion: "580.159.04",
};

/** One `# $ nvidia-smi …` section of the nvidia_gpu_exporter captures. */
function captureSection(file: string, commandPrefix: string): string {
  const text = shared("nvidia-smi", file);
  const start = text.indexOf(`# $ ${commandPrefix}`);
  assert.ok(start >= 0, `${commandPrefix} in ${file}`);
  const body = text.slice(text.indexOf("\n#####", start) + 1);
  const afterRule = body.slice(body.indexOf("\n") + 1);
  return afterRule.slice(0, afterRule.indexOf("\n\n\n"));
}

describe("nvidia-smi parsers", () => {
  it("reads the H100 from nvidia-smi -q -x: model, serial, UUID, memory, bus id, VBIOS, driver", () => {
    const result = parseNvidiaSmiXml(shared("nvidia-smi", "h100-80gb-hbm3.q.xml"));
    assert.equal(result.status, "ok");
    assert.deepEqual(result.value, [H100]);
  });

  it("reads the same H100 from the query CSV, whatever the column order", () => {
    const result = parseNvidiaSmiQueryCsv(shared("nvidia-smi", "h100-80gb-hbm3.query-gpu.csv"));
    assert.equal(result.status, "ok");
    assert.deepEqual(result.value, [H100]);
  });

  it("reads an L40S from a 200-column query CSV and drops [N/A] and masked all-zero serials", () => {
    const csv = captureSection("linux-x86_64__nvidia-l40s__595.80.txt", "nvidia-smi --query-gpu=");
    const result = parseNvidiaSmiQueryCsv(csv);
    assert.equal(result.status, "ok");
    const [gpu] = result.value;
    assert.equal(result.value.length, 1);
    assert.equal(gpu?.model, "NVIDIA L40S");
    assert.equal(gpu?.pciBusId, "0000:01:00.0");
    assert.equal(gpu?.vbiosVersion, "95.02.66.00.02");
    assert.equal(gpu?.driverVersion, "595.80");
    assert.equal(gpu?.serialNumber, undefined);
    assert.ok((gpu?.memoryBytes ?? 0) > 40 * 1024 ** 3);
  });

  it("refuses output that is not nvidia-smi's, without throwing", () => {
    for (const text of [
      "",
      "<html></html>",
      "<<<",
      "NVIDIA-SMI has failed because it couldn't communicate",
    ]) {
      assert.equal(parseNvidiaSmiXml(text).status, "unparseable", text);
      assert.deepEqual(parseNvidiaSmiXml(text).value, []);
    }
    assert.equal(parseNvidiaSmiQueryCsv("").status, "unparseable");
    assert.equal(parseNvidiaSmiQueryCsv('"unclosed').status, "unparseable");
    assert.equal(parseNvidiaSmiQueryCsv("a, b\n1, 2").status, "unparseable");
  });

  it("reports no GPU when the log lists none", () => {
    const result = parseNvidiaSmiXml("<nvidia_smi_log><driver_version>580</driver_version></nvidia_smi_log>");
    assert.equal(result.status, "empty");
    assert.deepEqual(result.value, []);
  });
});

describe("GPU probe", () => {
  it("falls back to the query CSV when the XML is unusable", async () => {
    const runner = new ReplayRunner({
      "nvidia-smi -q -x": exited("garbage"),
      [["nvidia-smi", ...NVIDIA_SMI_QUERY_ARGS].join(" ")]: exited(
        shared("nvidia-smi", "h100-80gb-hbm3.query-gpu.csv"),
      ),
    });
    const context = probeContext(runner);
    assert.deepEqual(await probeNvidiaGpus(context), [H100]);
    const reports = context.recorder.toRecord();
    assert.equal(reports["nvidia-smi"]?.status, "unparseable");
    assert.equal(reports["nvidia-smi-query"]?.status, "ok");
  });

  it("records a missing nvidia-smi as a warning and finds the GPUs through lspci instead", async () => {
    const context = probeContext(new ReplayRunner({}));
    assert.deepEqual(await probeNvidiaGpus(context), []);
    const report = context.recorder.toRecord()["nvidia-smi"];
    assert.equal(report?.status, "missing");
    assert.deepEqual(report?.warnings, ["nvidia-smi: not installed"]);

    const pci = parseLspciVmm(local("lspci", "gpu-server.txt")).value;
    assert.deepEqual(gpusFromPci(pci), [
      { vendor: "NVIDIA Corporation", model: "GH100[H100 SXM5 80GB]", pciBusId: "0000:18:00.0" },
    ]);
  });
});
