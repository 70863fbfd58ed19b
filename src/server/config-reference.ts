import { z } from 'zod';
import { emulatorSettings } from '../emulator/settings';
import { settingGroups, type SettingGroup } from '../settings/meta';
import { settingsSchema } from './config';

/** Where `npm run config-reference` writes the page, from the repository's root. */
export const configurationPage = 'docs/operators/configuration.md';

/** One property of the JSON Schema zod makes of a settings object: what the table reads. */
interface SettingSchema {
  type?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  default?: unknown;
  description?: string;
  group?: SettingGroup;
  defaultText?: string;
  typeText?: string;
}

/** A setting as the page lists it. */
export interface SettingRow {
  name: string;
  group?: SettingGroup;
  type: string;
  default: string;
  meaning: string;
}

/** The settings `schema` reads, in its order, each with its type and range, default and meaning; throws naming a setting with no description. */
export function settingRows(schema: z.ZodObject): SettingRow[] {
  // Input side: the variables as written in the environment, before coercion and transforms.
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties: Record<string, SettingSchema> };
  return Object.entries(json.properties).map(([name, field]) => {
    if (!field.description) throw new Error(`${name}: no description; give its schema .meta({ description })`);
    return { name, group: field.group, type: typeText(name, field), default: defaultText(field), meaning: field.description };
  });
}

/** Integers zod gives `.int()` fields as bounds when none is set: no bound to print. */
const unbounded = (value: number | undefined): number | undefined =>
  value === undefined || Math.abs(value) >= Number.MAX_SAFE_INTEGER ? undefined : value;

function typeText(name: string, field: SettingSchema): string {
  if (field.typeText) return field.typeText;
  if (field.enum) {
    if (field.enum.length === 2 && field.enum.includes('true') && field.enum.includes('false')) return '`true` or `false`';
    return `one of ${field.enum.map((value) => code(String(value))).join(', ')}`;
  }
  if (field.type === 'integer' || field.type === 'number') {
    const [min, max, above] = [unbounded(field.minimum), unbounded(field.maximum), field.exclusiveMinimum];
    if (min !== undefined && max !== undefined) return `${field.type}, ${min}–${max}`;
    if (above !== undefined && max !== undefined) return `${field.type}, above ${above}, at most ${max}`;
    if (min !== undefined) return `${field.type}, ${min} or more`;
    return field.type;
  }
  if (field.type === 'string') return (field.minLength ?? 0) > 1 ? `string, ${field.minLength} characters or more` : 'string';
  throw new Error(`${name}: its type does not read as one word; give its schema .meta({ typeText })`);
}

function defaultText(field: SettingSchema): string {
  if (field.defaultText) return field.defaultText;
  return field.default === undefined ? 'unset' : code(String(field.default));
}

const code = (text: string): string => `\`${text}\``;

/** A table cell: a `|` would end it early. */
const cell = (text: string): string => text.replace(/\|/g, '\\|');

function table(rows: SettingRow[]): string {
  const lines = ['| variable | type and range | default | meaning |', '| --- | --- | --- | --- |'];
  for (const row of rows) lines.push(`| ${code(row.name)} | ${cell(row.type)} | ${cell(row.default)} | ${cell(row.meaning)} |`);
  return lines.join('\n');
}

/**
 * The configuration reference, as markdown: the gateway's settings by section
 * (in the schema's order within each), then the standalone emulator's. Made
 * from the zod schemas alone, so the page cannot say what the code does not.
 */
export function renderConfigurationReference(): string {
  const rows = settingRows(settingsSchema);
  const ungrouped = rows.filter((row) => row.group === undefined || !(row.group in settingGroups));
  if (ungrouped.length > 0) throw new Error(`${ungrouped.map((row) => row.name).join(', ')}: no group; give its schema .meta({ group })`);
  const sections: string[] = [
    '<!-- Generated from src/server/config.ts and src/emulator/settings.ts by `npm run config-reference`: do not edit by hand. -->',
    '',
    '# Configuration',
    '',
    'All settings are environment variables, read and checked once at start-up;',
    'a bad value stops start-up with a message naming the variable. An empty',
    'variable counts as unset.',
  ];
  for (const [group, title] of Object.entries(settingGroups)) {
    const inGroup = rows.filter((row) => row.group === group);
    if (inGroup.length > 0) sections.push('', `## ${title}`, '', table(inGroup));
  }
  sections.push(
    '',
    '## The standalone emulator',
    '',
    '`npm run emulator` reads these (and no gateway setting); the gateway reads',
    'the job length and concurrency ones for its embedded emulator.',
    '',
    table(settingRows(emulatorSettings)),
  );
  return `${sections.join('\n')}\n`;
}
