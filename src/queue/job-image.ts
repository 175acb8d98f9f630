import { SandboxImageError } from '../errors/sandbox-error.js';
import { Image } from '../images/image.js';
import { looksLikeReference } from '../images/registry/reference.js';

/**
 * The image a job names: none → the host image; otherwise an image or snapshot in the worker's
 * store, by name or id, and a registry reference the store does not have yet is pulled into it
 * (later jobs find it there). The one place a job's image reference is resolved.
 */
export async function resolveJobImage(ref: string | undefined): Promise<Image> {
  if (ref === undefined) return Image.host();
  try {
    return Image.fromStore(ref);
  } catch (err) {
    if (!(err instanceof SandboxImageError && err.reason === 'not-found') || !looksLikeReference(ref)) throw err;
    return Image.pull(ref);
  }
}
