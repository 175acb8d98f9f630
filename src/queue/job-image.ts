import { Image } from '../images/image.js';

/**
 * The image a job names: none → the host image; otherwise an image or snapshot in the worker's
 * store, by name or id. The one place a job's image reference is resolved, so that registry
 * references can be pulled here (into the same store) without touching the rest.
 */
export async function resolveJobImage(ref: string | undefined): Promise<Image> {
  if (ref === undefined) return Image.host();
  return Image.fromStore(ref);
}
