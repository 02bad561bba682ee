// Composition of WGSL modules: a kernel's .wgsl file plus the library files it uses (a weight
// format's reader, shared attention helpers, ...), concatenated into one module. Every part is
// plain WGSL; WGSL lets module-scope declarations appear in any order, so a kernel may call a
// function or read a binding that a later part declares, and a library part may refer to a
// constant the kernel declares (e.g. the weight readers' `WEIGHT_BINDING`, which picks the
// binding slot of the weight; @binding takes any constant expression).
// There are no directives, macros or substitutions: what each .wgsl file says is what runs.
// test/gpu/wgsl.test.ts checks the step itself; each kernel family's tests compile its
// compositions on the device.

/** One part of a composed module: its file's name (for the module's comments and errors) and its source. */
export interface WgslPart {
  name: string;
  code: string;
}

/** The module-scope names a WGSL source declares (fn, struct, alias, const, override, var). */
export function declaredNames(code: string): string[] {
  const withoutComments = code.replace(/\/\/[^\n]*/g, '');
  const names: string[] = [];
  let depth = 0;
  // Only declarations at brace depth 0 are module-scope; function bodies and structs are skipped.
  for (const token of withoutComments.matchAll(/[{}]|\b(fn|struct|alias|const|override|var(?:<[^>]*>)?)\s+([A-Za-z_][A-Za-z0-9_]*)/g)) {
    if (token[0] === '{') depth++;
    else if (token[0] === '}') depth--;
    else if (depth === 0) names.push(token[2]);
  }
  return names;
}

/**
 * The parts joined into one module, each introduced by a comment naming its file. Throws when two
 * parts declare the same module-scope name (WGSL would reject the module with a less clear message,
 * and only when the pipeline is built).
 */
export function composeWgsl(...parts: WgslPart[]): string {
  const owner = new Map<string, string>();
  for (const part of parts) {
    for (const name of declaredNames(part.code)) {
      const first = owner.get(name);
      if (first !== undefined) throw new Error(`composeWgsl: '${name}' is declared by both ${first} and ${part.name}`);
      owner.set(name, part.name);
    }
  }
  return parts.map((p) => `// ---- ${p.name} ----\n${p.code.trimEnd()}\n`).join('\n');
}
