import assert from "node:assert/strict";
import path from "node:path";
import { before, describe, it } from "node:test";
import { AGENT_IMAGE_MODULES, installedKernels } from "../../src/images/agent-image.ts";
import {
  type ModuleIndex,
  moduleFilesFor,
  moduleNameOf,
  parseModulesAlias,
  parseModulesDep,
  readModuleIndex,
  resolveModules,
  UnknownModuleError,
} from "../../src/images/kernel-modules.ts";

describe("kernel module resolution", () => {
  it("names modules as the kernel does, whatever the compression", () => {
    assert.equal(moduleNameOf("kernel/drivers/net/virtio_net.ko"), "virtio_net");
    assert.equal(moduleNameOf("kernel/drivers/scsi/sd_mod.ko.xz"), "sd_mod");
    assert.equal(moduleNameOf("kernel/drivers/hwmon/nct6775-core.ko.zst"), "nct6775_core");
  });

  it("orders dependencies before the modules that need them, each once", () => {
    const index: ModuleIndex = {
      modulesDir: "/nowhere",
      modules: parseModulesDep(
        [
          "kernel/a.ko: kernel/b.ko kernel/c-d.ko",
          "kernel/b.ko: kernel/c-d.ko",
          "kernel/c-d.ko:",
          "kernel/e.ko.xz: kernel/b.ko kernel/c-d.ko",
        ].join("\n"),
      ),
      builtin: new Set(["af_packet"]),
      aliases: parseModulesAlias(
        "alias pci:v00001234d*sv*sd*bc*sc*i* a\nalias virtio:d00000009v* zz\n# comment\n",
      ),
    };
    const resolution = resolveModules(index, ["e", "a", "af-packet"]);
    assert.deepEqual(
      resolution.load.map((module) => module.name),
      ["c_d", "b", "e", "a"],
    );
    assert.deepEqual(resolution.builtin, ["af_packet"]);
    assert.deepEqual(moduleFilesFor(index, resolution.load), {
      modulesDep:
        "kernel/c-d.ko:\nkernel/b.ko: kernel/c-d.ko\nkernel/e.ko: kernel/b.ko kernel/c-d.ko\nkernel/a.ko: kernel/b.ko kernel/c-d.ko\n",
      modulesAlias: "alias pci:v00001234d*sv*sd*bc*sc*i* a\n",
    });
    assert.throws(
      () => resolveModules(index, ["a", "nope", "zilch"]),
      (error: unknown) => error instanceof UnknownModuleError && error.moduleNames.join() === "nope,zilch",
    );
  });

  describe("against the installed kernel", () => {
    let index: ModuleIndex;
    before(async () => {
      const [release] = await installedKernels();
      assert.ok(
        release !== undefined,
        "no kernel with modules in /boot and /lib/modules: install the Debian package linux-image-amd64",
      );
      index = await readModuleIndex(path.join("/lib/modules", release));
    });

    it("resolves every module the agent image ships, with virtio_net's dependencies first", () => {
      const resolution = resolveModules(index, AGENT_IMAGE_MODULES);
      const order = resolution.load.map((module) => module.name);
      assert.equal(new Set(order).size, order.length, "no module twice");
      for (const module of resolution.load) {
        for (const dependency of module.dependencies) {
          assert.ok(
            order.indexOf(dependency) < order.indexOf(module.name),
            `${dependency} loads before ${module.name}`,
          );
        }
      }
      for (const wanted of [
        "virtio_net",
        "virtio_pci",
        "nvme",
        "ahci",
        "sd_mod",
        "e1000",
        "e1000e",
        "igb",
        "ixgbe",
      ]) {
        assert.ok(order.includes(wanted) || resolution.builtin.includes(wanted), wanted);
      }
      const virtioNet = resolution.load.find((module) => module.name === "virtio_net");
      assert.ok(virtioNet !== undefined);
      assert.ok(virtioNet.dependencies.includes("net_failover"), "virtio_net needs net_failover");
      assert.ok(order.indexOf("failover") < order.indexOf("net_failover"));
    });

    it("keeps the device aliases of the shipped modules, so /init can load drivers by modalias", () => {
      const resolution = resolveModules(index, AGENT_IMAGE_MODULES);
      const { modulesAlias } = moduleFilesFor(index, resolution.load);
      assert.match(modulesAlias, /^alias virtio:d00000001v\* virtio_net$/m);
      assert.match(modulesAlias, /^alias pci:v00001AF4d\*sv\*sd\*bc\*sc\*i\* virtio_pci$/m);
      assert.doesNotMatch(modulesAlias, / snd_hda_intel$/m, "no alias for a module the image does not ship");
    });

    it("names the module the kernel does not have", () => {
      assert.throws(() => resolveModules(index, ["virtio_net", "no_such_driver"]), /no_such_driver/);
    });
  });
});
