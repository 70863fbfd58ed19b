/**
 * What a setting's schema says about it beyond its type, for the generated
 * configuration reference (src/server/config-reference.ts): each field of the
 * gateway's and the emulator's zod schemas carries it with `.meta({ … })`,
 * so a setting's name, bounds, default and meaning are written once.
 */

/** The sections of the reference, in the order they are printed. */
export const settingGroups = {
  service: 'Service',
  backend: 'Backend (AWS or the emulator)',
  upstream: 'Upstream calls, polling and the rate governor',
  subscriptions: 'Subscriptions and websockets',
  http: 'HTTP and connections',
  limits: 'Operation limits',
  caching: 'Caching',
  federation: 'Federation and introspection',
  auth: 'Authentication and access',
  replicas: 'Replicas (Redis)',
  observing: 'Observing (OpenTelemetry, metrics, logs)',
  removed: 'Removed settings',
} as const;

/** A section of the reference. */
export type SettingGroup = keyof typeof settingGroups;

declare module 'zod' {
  interface GlobalMeta {
    /** The section of the configuration reference the setting is listed in. */
    group?: SettingGroup;
    /** The default in words, where it is computed rather than one value (e.g. `5000` (`1000` with the emulator)). */
    defaultText?: string;
    /** The type and range in words, where the schema's own (a pattern, a list, a union) would not read well. */
    typeText?: string;
  }
}
