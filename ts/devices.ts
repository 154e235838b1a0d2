/**
 * The backends this build of mdmt has and why a missing one is missing.
 *
 *   for (const d of devices()) console.log(d.name, d.available ? 'ok' : d.reason);
 */
import { native, NativeDeviceInfo } from './native/binding';

export function devices(): NativeDeviceInfo[] {
  return native().devices();
}
