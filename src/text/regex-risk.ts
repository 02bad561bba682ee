// Regular expressions from untrusted files (a PEFT adapter's target_modules, a tokenizer.json's
// Split and Replace patterns) and the time matching them can take. JavaScript's regular
// expressions backtrack without a time limit, so a hostile pattern hangs the process: '(.*)*x'
// never returns on a 30-character text, '.*.*.*.*.*.*.*.*.*x' takes seconds. The patterns real
// files hold have no repeated group and few repeats per alternative, which is what is allowed.

/**
 * Why matching `source` could take exponential or high-polynomial time, or null: a repeated group
 * ('(a+)+', '(x|y)*', '(?:ab){2,}'), more than `maxRepeats` repeats (*, + or {n,m}) in one
 * top-level alternative, or more than `maxLength` characters.
 */
export function backtrackingRisk(source: string, maxRepeats = 3, maxLength = 1000): string | null {
  if (source.length > maxLength) return `it is longer than ${maxLength} characters`;
  let repeats = 0;
  let most = 0;
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (/[*+{]/.test(source[i + 1] ?? '')) return 'a group is repeated';
    } else if (c === '|' && depth === 0) repeats = 0; // a new top-level alternative
    else if (c === '*' || c === '+' || (c === '{' && /^\{\d*,\d*\}/.test(source.slice(i, i + 24)))) most = Math.max(most, ++repeats); // {n,m} backtracks too
  }
  return most > maxRepeats ? `${most} repeats (*, + or {n,m}) in one alternative, more than ${maxRepeats}` : null;
}
