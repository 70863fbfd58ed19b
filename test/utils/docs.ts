import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import ts from 'typescript';

/**
 * A docs page's code block, run as written: a recipe's test takes the block a
 * reader copies, never a copy of its own. A block is found by the marker
 * `<!-- block: NAME -->` on the line before its fence.
 */

/** The code of the fenced block that follows `<!-- block: name -->` in `page` (relative to the repo's root), its indent removed. */
export function docBlock(page: string, name: string): string {
  const text = readFileSync(resolve(__dirname, '../..', page), 'utf8');
  const found = new RegExp(`<!-- block: ${name} -->\\n( *)\`\`\`\\w*\\n([\\s\\S]*?)\\n\\1\`\`\``).exec(text);
  if (!found) throw new Error(`${page} has no block marked <!-- block: ${name} -->`);
  const indent = found[1];
  return found[2].replace(new RegExp(`^${indent}`, 'gm'), '');
}

export interface RunOptions {
  /** Addresses in the block and what the test runs them against, e.g. `{ 'http://127.0.0.1:4000': gateway.url }`. */
  addresses?: Record<string, string>;
  /** Modules the block imports that the test supplies itself (the others are required as usual). */
  modules?: Record<string, unknown>;
  /** Names the block uses but leaves to its reader's code (`jobId`, `render`), and what they are in the test. */
  scope?: Record<string, unknown>;
}

/** Compiles a TypeScript block as a module of its own, runs it, and returns the top-level `names` it declared. */
export function runBlock<T extends Record<string, unknown>>(code: string, names: (keyof T & string)[], options: RunOptions = {}): T {
  let source = code;
  for (const [shown, actual] of Object.entries(options.addresses ?? {})) source = source.replaceAll(shown, actual);
  const { outputText, diagnostics } = ts.transpileModule(`${source}\nexport { ${names.join(', ')} };`, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    reportDiagnostics: true,
  });
  if (diagnostics?.length) throw new Error(ts.flattenDiagnosticMessageText(diagnostics[0].messageText, '\n'));
  const blockRequire = (name: string): unknown =>
    options.modules && name in options.modules
      ? options.modules[name]
      : // eslint-disable-next-line @typescript-eslint/no-require-imports -- the block is run as the CommonJS a bundler would make of it, through jest's registry (the test's globals)
        require(name);
  const module = { exports: {} as T };
  const scope = options.scope ?? {};
  new Function('require', 'module', 'exports', ...Object.keys(scope), outputText)(
    blockRequire,
    module,
    module.exports,
    ...Object.values(scope),
  );
  return module.exports;
}

/** What strict TypeScript says of a block, as a file of a frontend's project beside this repo's node_modules: one line per error. */
export function typeErrors(code: string): string[] {
  const file = resolve(__dirname, '../__docs_block__.ts');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    esModuleInterop: true,
    skipLibCheck: true,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (name) => (name === file ? `${code}\nexport {};\n` : readFile(name));
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((diagnostic) => diagnostic.file?.fileName === file)
    .map((diagnostic) => {
      const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start!);
      return `line ${line + 1}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    });
}
