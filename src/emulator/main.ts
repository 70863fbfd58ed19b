import { startEmulator } from './http';
import { EmulatorSettingsError, loadEmulatorSettings } from './settings';

/**
 * `npm run emulator`: the emulator alone, for pointing any AWS client at it.
 * It reads its own settings: it is independent of the gateway.
 */
function settings(): ReturnType<typeof loadEmulatorSettings> {
  try {
    return loadEmulatorSettings(process.env);
  } catch (err) {
    if (!(err instanceof EmulatorSettingsError)) throw err;
    console.error(err.message);
    process.exit(1);
  }
}

const options = settings();
startEmulator(options).then(
  (emulator) => {
    console.log(`Entity Resolution emulator listening on ${emulator.url} (region ${emulator.state.region}, any credentials)`);
    const stop = () => void emulator.close().then(() => process.exit(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  },
  (err: NodeJS.ErrnoException) => {
    const where = `${options.host}:${options.port}`;
    console.error(
      err.code === 'EADDRINUSE'
        ? `emulator: cannot start: ${where} is in use by another process: stop it, or set ER_EMULATOR_PORT to a free port.`
        : `emulator: cannot start on ${where}: ${err.message}`,
    );
    process.exit(1);
  },
);
