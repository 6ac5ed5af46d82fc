import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { NotFoundError, ValidationError } from "../../src/errors.ts";
import { ArtifactStore, assertArtifactName } from "../../src/images/artifact-store.ts";

const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

describe("artifact store", () => {
  let dataDir: string;
  let store: ArtifactStore;
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "ingot-artifacts-"));
    store = ArtifactStore.forDataDir(dataDir);
  });
  after(async () => await rm(dataDir, { recursive: true, force: true }));

  it("stores bytes under <data-dir>/artifacts with their size and sha256", async () => {
    const info = await store.put("agent/1.0-abc/vmlinuz", { kind: "bytes", data: "kernel bytes" });
    assert.equal(info.name, "agent/1.0-abc/vmlinuz");
    assert.equal(info.sizeBytes, 12);
    assert.equal(info.sha256, sha256("kernel bytes"));
    assert.equal(
      await readFile(path.join(dataDir, "artifacts/agent/1.0-abc/vmlinuz"), "utf8"),
      "kernel bytes",
    );
    assert.deepEqual(await store.stat("agent/1.0-abc/vmlinuz"), info);
    const opened = await store.open("agent/1.0-abc/vmlinuz");
    assert.equal(opened.path, path.join(dataDir, "artifacts/agent/1.0-abc/vmlinuz"));
    assert.equal(opened.info.sha256, info.sha256);
  });

  it("copies a file and hashes a stream", async () => {
    const source = path.join(dataDir, "source.bin");
    const content = Buffer.alloc(300_000, 7);
    await writeFile(source, content);
    const fromFile = await store.put("misc/copy.bin", { kind: "file", path: source });
    assert.equal(fromFile.sizeBytes, content.length);
    assert.equal(fromFile.sha256, sha256(content));
    const fromStream = await store.put("misc/stream.bin", {
      kind: "stream",
      stream: Readable.from([Buffer.from("a"), Buffer.from("bc")]),
    });
    assert.equal(fromStream.sha256, sha256("abc"));
  });

  it("replaces an artifact whole: a failed write leaves the old content and no temp file behind", async () => {
    await store.put("misc/replace.txt", { kind: "bytes", data: "old" });
    const failing = new Readable({
      read(): void {
        this.push("partial new content");
        this.destroy(new Error("source broke"));
      },
    });
    await assert.rejects(store.put("misc/replace.txt", { kind: "stream", stream: failing }), /source broke/);
    assert.equal(await store.readText("misc/replace.txt"), "old");
    assert.equal((await store.stat("misc/replace.txt"))?.sha256, sha256("old"));
    assert.deepEqual(await readdir(path.join(store.root, ".tmp")), []);

    await store.put("misc/replace.txt", { kind: "bytes", data: "new" });
    assert.equal(await store.readText("misc/replace.txt"), "new");
    assert.equal((await store.stat("misc/replace.txt"))?.sha256, sha256("new"));
  });

  it("stops a write when its signal aborts", async () => {
    const controller = new AbortController();
    const endless = new Readable({
      read(): void {
        this.push(Buffer.alloc(1024));
      },
    });
    const writing = store.put(
      "misc/aborted.bin",
      { kind: "stream", stream: endless },
      { signal: controller.signal },
    );
    controller.abort();
    await assert.rejects(writing, { name: "AbortError" });
    assert.equal(await store.stat("misc/aborted.bin"), undefined);
  });

  it("refuses names that escape the store or reach its bookkeeping", async () => {
    for (const name of [
      "../outside",
      "agent/../../etc/passwd",
      "/etc/passwd",
      "agent//vmlinuz",
      "agent/./vmlinuz",
      ".meta/agent/x.json",
      ".tmp/x",
      "agent/.hidden",
      "",
      "agent/a b",
      "agent\\..\\x",
      "agent/",
    ]) {
      assert.throws(() => store.resolve(name), ValidationError, name);
      await assert.rejects(store.put(name, { kind: "bytes", data: "x" }), ValidationError, name);
      await assert.rejects(store.open(name), ValidationError, name);
    }
    assert.doesNotThrow(() => assertArtifactName("agent/0.1.0-3f2a9c1b5d7e/initrd.img"));
  });

  it("does not serve a file that a planted symbolic link puts outside the store", async () => {
    const outside = path.join(dataDir, "secret.txt");
    await writeFile(outside, "secret");
    await store.put("misc/link", { kind: "bytes", data: "secret" });
    await rm(store.resolve("misc/link"));
    await symlink(outside, store.resolve("misc/link"));
    await assert.rejects(store.open("misc/link"), NotFoundError);

    const outsideDir = path.join(dataDir, "outside-dir");
    await store.put("linked/secret.txt", { kind: "bytes", data: "secret" });
    await rm(path.join(store.root, "linked"), { recursive: true });
    await mkdir(outsideDir);
    await writeFile(path.join(outsideDir, "secret.txt"), "secret");
    await symlink(outsideDir, path.join(store.root, "linked"));
    await assert.rejects(store.open("linked/secret.txt"), NotFoundError);
  });

  it("answers not found for an absent artifact and for one whose write never finished", async () => {
    await assert.rejects(store.open("agent/none/vmlinuz"), NotFoundError);
    assert.equal(await store.stat("agent/none/vmlinuz"), undefined);
    await writeFile(path.join(store.root, "orphan.bin"), "no metadata");
    assert.equal(await store.stat("orphan.bin"), undefined);
    await assert.rejects(store.open("orphan.bin"), NotFoundError);
  });

  it("lists complete artifacts by name, optionally under a prefix", async () => {
    const listStore = new ArtifactStore(path.join(dataDir, "listing"));
    assert.deepEqual(await listStore.list(), []);
    await listStore.put("b/two", { kind: "bytes", data: "2" });
    await listStore.put("a/one", { kind: "bytes", data: "1" });
    await listStore.put("a/sub/three", { kind: "bytes", data: "3" });
    assert.deepEqual(
      (await listStore.list()).map((info) => info.name),
      ["a/one", "a/sub/three", "b/two"],
    );
    assert.deepEqual(
      (await listStore.list("a/")).map((info) => [info.name, info.sizeBytes]),
      [
        ["a/one", 1],
        ["a/sub/three", 1],
      ],
    );
    await listStore.remove("a/one");
    assert.deepEqual(
      (await listStore.list("a/")).map((info) => info.name),
      ["a/sub/three"],
    );
  });
});
