import type { AddressInfo } from 'node:net';

/** A port the gateway could not listen on, said in one line that names the setting to change. */
export class ListenError extends Error {}

/** Runs `listen`, turning the errors a person can fix into a ListenError naming the setting to change. */
export async function listening(
  listen: () => Promise<unknown>,
  setting: { port: string; host: string },
  host: string,
  port: number,
): Promise<void> {
  try {
    await listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new ListenError(`port ${port} on ${host} is in use by another process: stop it, or set ${setting.port} to a free port.`);
    if (code === 'EACCES')
      throw new ListenError(`port ${port} on ${host} may not be opened by this user: set ${setting.port} to a port above 1023.`);
    if (code === 'EADDRNOTAVAIL')
      throw new ListenError(`${host} is not an address of this machine: set ${setting.host} to one of its addresses.`);
    throw err;
  }
}

/** The URL of a listening address, e.g. `http://127.0.0.1:4000` or `http://[::1]:4000`. */
export function urlOf({ address, port }: AddressInfo): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}
