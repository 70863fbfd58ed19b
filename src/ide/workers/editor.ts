// Monaco's base worker (text models, diffs), bundled as a file of its own: see ../workers.ts.
import 'monaco-editor/esm/vs/editor/editor.worker.js';
