// Parses each Mermaid file given on the command line with Mermaid's own parser (in a
// jsdom window, since Mermaid expects a browser). Exit 1 if any fails to parse.
// Install once with `npm ci --prefix tests/mermaid`.
import { JSDOM } from 'jsdom';
import { readFileSync } from 'node:fs';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });

let bad = 0;
for (const file of process.argv.slice(2)) {
  try {
    await mermaid.parse(readFileSync(file, 'utf8'));
    console.log(`ok ${file}`);
  } catch (e) {
    bad++;
    console.log(`INVALID ${file}: ${String(e.message || e)}`);
  }
}
process.exit(bad ? 1 : 0);
