import { renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { CreateConfig } from '../helper/protocol.js';
import { removeInBackground } from '../platform/background-removal.js';
import { removeTree, removeTreeSync } from '../platform/remove-tree.js';
import { sessionFor } from '../platform/sessions.js';
import { type Overlay, removeEmptyOverlaySync } from '../rootfs/overlay.js';
import { createConfigFor } from './create-config.js';
import type { ResolvedSandboxOptions } from './options.js';
import { hostLayerFor } from './runtime.js';
import { traceNow, traceSince } from '../platform/step-trace.js';

/**
 * One sandbox's root on the host: its directory in the session, the overlay of image layers
 * and the private writable layer on top, and the `create` request that mounts them.
 */
export class SandboxRoot {
  /** limits.disk: the supervisor's fd of the writable layer, which lives in a private tmpfs. */
  private upperFd: number | undefined;

  private constructor(
    readonly dir: string,
    readonly overlay: Overlay,
    readonly config: CreateConfig
  ) {}

  /** Lays out the directories of sandbox `id` and builds its `create` request. */
  static prepare(id: string, opts: ResolvedSandboxOptions): SandboxRoot {
    const session = sessionFor(opts.stateDir);
    const dir = join(session.dir, id);
    const plan = createConfigFor(opts, session.dir, dir, () => hostLayerFor(opts.stateDir));
    return new SandboxRoot(dir, plan.overlay, plan.config);
  }

  /** The `created` reply's fd of the writable layer (only with limits.disk). */
  created(upperFd: number | undefined): void {
    this.upperFd = upperFd;
  }

  /**
   * The writable layer as the host can read it. With limits.disk it lives in a tmpfs mounted
   * only in the sandbox's mount namespace; the supervisor holds an fd of it, which this
   * process (same user, and the supervisor is dumpable) follows through /proc.
   */
  upperDir(helperPid: number | undefined): string | undefined {
    if (!this.overlay.dirs.quota) return this.overlay.dirs.upper;
    return this.upperFd !== undefined && helperPid !== undefined ? `/proc/${helperPid}/fd/${this.upperFd}/` : undefined;
  }

  /**
   * Where user names resolve: the image's read-only layers only. The writable layer is the
   * sandbox's to rewrite, so it never decides what a name means (docs/security.md).
   */
  passwdSources(): string[] {
    return this.overlay.lowerDirs;
  }

  /**
   * Removes the sandbox's directory: one rename out of the way (the sandbox's directory is gone
   * when this resolves), then the removal of the tree in the background, so destroy() waits
   * neither for a written writable layer nor for the rmdir of the directories the sandbox's
   * mounts were on (the kernel detaches what was mounted there under its global mount lock and
   * waits for an RCU grace period: milliseconds on a busy host).
   */
  async remove(): Promise<void> {
    const t = traceNow();
    // Not "sb-…": nothing takes it for a live sandbox's directory.
    const away = join(dirname(this.dir), `.removing-${basename(this.dir).replace(/^sb-/, '')}`);
    try {
      renameSync(this.dir, away);
    } catch {
      if (!removeEmptyOverlaySync(this.dir, this.overlay.dirs)) await removeTree(this.dir);
      return;
    }
    traceSince('destroy.root-rename', t);
    removeInBackground(
      () => removeTree(away),
      () => removeTreeSync(away)
    );
  }
}
