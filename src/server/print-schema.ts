import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { printGatewaySchema } from './schema';

/** `npm run schema`: writes the subgraph SDL to schema.graphql at the repository's root. */
void printGatewaySchema().then((sdl) => {
  const file = resolve(__dirname, '../../schema.graphql');
  writeFileSync(file, sdl);
  console.log(`wrote ${file}`);
});
