// monaco-graphql's worker (validation, completion from the schema) for the operation editor: see ../workers.ts.
import 'monaco-graphql/esm/graphql.worker.js';
