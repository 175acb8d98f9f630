import { Image, type ImageSource } from '../images/image.js';
import type { ImageRecord, LayerStore } from '../images/layer-store.js';
import { exportImage, type ExportOptions, type ExportResult } from './snapshot-export.js';

/**
 * The frozen state of a sandbox's files: its writable layer, copied into an immutable layer of
 * the store, stacked over the layers of the image the sandbox started from. A snapshot is an
 * {@link Image}: any number of sandboxes can start from it, each with its own writable layer,
 * and a sandbox started from a snapshot can be snapshotted again (snapshots stack).
 *
 * @example
 * await build.run(['make']);
 * const snap = await build.snapshot();
 * const results = await Promise.all(inputs.map((stdin) => new Sandbox({ image: snap }).run(['/app'], { stdin })));
 * await snap.export('./after-build.oci.tar');
 */
export class Snapshot extends Image {
  /** @internal */
  constructor(record: ImageRecord, store: LayerStore, base: Image | undefined) {
    super({ kind: 'store', record, store, ownLayers: record.layers, base } satisfies ImageSource);
  }

  /** The snapshot's id in the store (`snap-…`); `Image.fromStore(id)` finds it again. */
  override get id(): string {
    return this.stack.record!.id;
  }

  /** Layer ids, bottom first, the last being the snapshot's own. */
  get layerIds(): string[] {
    return [...this.stack.layers];
  }

  /**
   * Writes the snapshot as an OCI image archive (`oci-archive` as skopeo calls it): layers as
   * tars with `.wh.` whiteouts and `.wh..wh..opq` markers, the image config carried over. It
   * imports again with `Image.fromOCI` and with umoci or skopeo.
   * @example await snap.export('./after-build.oci.tar', { name: 'after-build' });
   * @throws {SandboxImageError} `unsupported` when the snapshot is of the host image (its base is not a set of layers).
   */
  export(path: string, options: ExportOptions = {}): Promise<ExportResult> {
    return exportImage(this, path, options);
  }
}
