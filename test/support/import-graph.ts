// Owns reading the project's import graph from its source text: every `.ts` file under the given top
// folders, and for each the project files it imports (static `import`/`export … from`, side-effect
// imports, `import type`, and `import('…')` with a literal path). Packages (`commander`, `node:fs`) and
// JSON files are left out: the tier rules are about the project's own modules. A dynamic import whose
// path is computed (not a literal) is invisible here, as it is to the bundler.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  /** importing file, relative to the repository, with forward slashes */
  from: string;
  /** imported file, the same way */
  to: string;
  /** `import('…')`: loaded only when that code runs */
  dynamic: boolean;
}

export interface ImportGraph {
  files: string[];
  edges: ImportEdge[];
}

function walk(repo: string, dir: string, out: string[]): void {
  for (const name of readdirSync(path.join(repo, dir)).sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const rel = `${dir}/${name}`;
    if (statSync(path.join(repo, rel)).isDirectory()) walk(repo, rel, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
}

/** Literal `import('…')` specifiers: ts.preProcessFile reports them among importedFiles, so tell them apart. */
function dynamicSpecifiers(text: string): Set<string> {
  const found = new Set<string>();
  for (const m of text.matchAll(/\bimport\(\s*(['"])([^'"]+)\1\s*\)/g)) found.add(m[2]!);
  return found;
}

export function readImportGraph(repo: string, topFolders: readonly string[]): ImportGraph {
  const files: string[] = [];
  for (const top of topFolders) walk(repo, top, files);
  const known = new Set(files);
  const edges: ImportEdge[] = [];
  for (const file of files) {
    const text = readFileSync(path.join(repo, file), 'utf8');
    const info = ts.preProcessFile(text, true, true);
    const dynamic = dynamicSpecifiers(text);
    const seen = new Set<string>();
    for (const ref of info.importedFiles) {
      const spec = ref.fileName;
      if (!spec.startsWith('.')) continue; // a package or a builtin
      const to = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      if (!to.endsWith('.ts') || !known.has(to)) continue; // package.json and the like
      const key = `${to}\0${dynamic.has(spec)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      edges.push({ from: file, to, dynamic: dynamic.has(spec) });
    }
  }
  return { files, edges };
}

/** Every elementary cycle reachable in `edges` is too many to list; this returns one cycle per
 *  strongly connected component of more than one node (or a self-import), as a closed path. */
export function findCycles(nodes: readonly string[], edges: ReadonlyArray<{ from: string; to: string }>): string[][] {
  const next = new Map<string, string[]>();
  for (const n of nodes) next.set(n, []);
  for (const e of edges) {
    if (!next.has(e.from)) next.set(e.from, []);
    if (!next.has(e.to)) next.set(e.to, []);
    next.get(e.from)!.push(e.to);
  }
  // Tarjan's strongly connected components
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v)!) {
      if (!indices.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      components.push(component);
    }
  };
  for (const v of [...next.keys()].sort()) if (!indices.has(v)) connect(v);
  const cycles: string[][] = [];
  for (const component of components) {
    const members = new Set(component);
    const start = [...component].sort()[0]!;
    if (component.length === 1 && !next.get(start)!.includes(start)) continue;
    // shortest way back to `start` inside the component (breadth first), so the report is readable
    const parent = new Map<string, string>();
    const queue = [start];
    let closed: string | undefined;
    while (queue.length > 0 && closed === undefined) {
      const v = queue.shift()!;
      for (const w of [...next.get(v)!].sort()) {
        if (!members.has(w)) continue;
        if (w === start) {
          closed = v;
          break;
        }
        if (!parent.has(w)) {
          parent.set(w, v);
          queue.push(w);
        }
      }
    }
    const cycle = [start];
    for (let v = closed!; v !== start; v = parent.get(v)!) cycle.splice(1, 0, v);
    cycle.push(start);
    cycles.push(cycle);
  }
  return cycles.sort((a, b) => a.join().localeCompare(b.join()));
}
