// Parse Mermaid diagrams with the real Mermaid parser (mermaid.parse in a jsdom window).
// Usage: node check.mjs FILE...   Prints one JSON line per file: {"file", "ok", "type"|"error"}.
// A file may be a Markdown document: every ```mermaid block in it is parsed.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

function blocks(file, text) {
  if (!file.endsWith(".md")) return [[file, text]];
  const found = [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)];
  return found.map((m, i) => [`${file}#${i + 1}`, m[1]]);
}

let failed = 0;
for (const file of process.argv.slice(2)) {
  for (const [name, text] of blocks(file, readFileSync(file, "utf8"))) {
    try {
      const r = await mermaid.parse(text);
      console.log(JSON.stringify({ file: name, ok: true, type: r.diagramType }));
    } catch (e) {
      failed += 1;
      console.log(JSON.stringify({ file: name, ok: false, error: String(e.message ?? e) }));
    }
  }
}
process.exit(failed ? 1 : 0);
