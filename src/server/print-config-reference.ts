import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { configurationPage, renderConfigurationReference } from './config-reference';

/** `npm run config-reference`: writes the configuration reference, generated from the settings' schemas. */
const file = resolve(__dirname, '../..', configurationPage);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, renderConfigurationReference());
console.log(`wrote ${file}`);
