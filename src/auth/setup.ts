import type { Logger } from 'pino';
import { loadApiKeys } from './api-keys';
import { Authenticator, type AuthMode, type JwtSettings } from './authenticator';
import { readSettingFile } from '../settings/files';
import { Policy } from './policy';

/** Who may call the gateway and what they may do: the auth part of the configuration. */
export interface AuthSettings {
  /** Empty: ER_AUTH=none. */
  modes: AuthMode[];
  jwt: Omit<JwtSettings, 'publicKeyPem'> & { publicKeyFile?: string };
  apiKeysFile?: string;
  /** `name:sha256,…` */
  apiKeys?: string;
  /** Unset: with ER_AUTH=none, everyone may do everything (starts write to each workflow's own output); else required. */
  policyFile?: string;
}

export interface Auth {
  authenticator: Authenticator;
  policy: Policy;
}

/** Reads the keys and the policy (the configuration has checked that the modes have what they need); any problem is a SettingError naming the setting. */
export async function loadAuth(settings: AuthSettings, now?: () => number, logger?: Logger): Promise<Auth> {
  const publicKeyPem =
    settings.jwt.publicKeyFile === undefined ? undefined : await readSettingFile('ER_JWT_PUBLIC_KEY_FILE', settings.jwt.publicKeyFile);
  const apiKeys = settings.modes.includes('apikey') ? await loadApiKeys(settings.apiKeysFile, settings.apiKeys) : [];
  const authenticator = await Authenticator.create({ modes: settings.modes, jwt: { ...settings.jwt, publicKeyPem }, apiKeys, now, logger });
  const policy = settings.policyFile === undefined ? Policy.openToAnyone() : await Policy.load(settings.policyFile);
  return { authenticator, policy };
}
