// The dataset panel: a JSONL or CSV editor (typed, pasted, uploaded or from a preset), checked as
// you type with parseDataset (pure JS, on the main thread), with a table of the first rows and
// every problem listed as "line N: message". Training is blocked while there are problems.
import { DatasetError, detectFormat, parseDataset, type Example } from '../../src/train/dataset.js';
import { $, debounce, errorMessage, truncate } from './dom.js';
import { DEFAULT_PRESET, PRESETS } from './presets.js';
import type { Store } from './state.js';

const TABLE_ROWS = 50;
const LISTED_PROBLEMS = 200;
const CELL_CHARS = 160;

export interface DatasetPanel {
  /** Parses the editor's text now (a pending debounced parse is superseded). */
  flush(): void;
  /** Puts `text` in the editor (as "your own data") and parses it. */
  setText(text: string): void;
}

export function initDatasetPanel(store: Store, onPreset: (prompt: string) => void): DatasetPanel {
  const input = $<HTMLTextAreaElement>('dataset-input');
  const preset = $<HTMLSelectElement>('dataset-preset');
  const file = $<HTMLInputElement>('dataset-file');
  const countEl = $('dataset-count');
  const errors = $('dataset-errors');
  const table = $<HTMLTableSectionElement>('dataset-rows');
  const more = $('dataset-more');

  for (const [value, p] of Object.entries(PRESETS)) preset.add(new Option(p.label, value));
  preset.add(new Option('Your own data', 'custom'));

  let parsedText: string | null = null;

  function parse(): void {
    const text = input.value;
    if (text === parsedText) return;
    parsedText = text;
    try {
      const examples = parseDataset(text, 'auto', 'dataset');
      showRows(examples);
      showProblems([]);
      countEl.textContent = `${examples.length} example${examples.length === 1 ? '' : 's'} (${detectFormat(text).toUpperCase()})`;
      countEl.dataset.count = String(examples.length);
      store.set({ datasetText: text, examples: examples.length, datasetProblems: 0 });
    } catch (e) {
      const problems = e instanceof DatasetError ? e.problems : [{ line: 0, message: errorMessage(e) }];
      showRows([]);
      showProblems(problems.map((p) => (p.line > 0 ? `line ${p.line}: ${p.message}` : `file: ${p.message}`)));
      countEl.textContent = `${problems.length} problem${problems.length === 1 ? '' : 's'} to fix`;
      countEl.dataset.count = '0';
      store.set({ datasetText: text, examples: 0, datasetProblems: problems.length });
    }
  }

  function showProblems(lines: string[]): void {
    errors.dataset.count = String(lines.length);
    errors.hidden = lines.length === 0;
    const items = lines.slice(0, LISTED_PROBLEMS).map((t) => Object.assign(document.createElement('li'), { textContent: t }));
    if (lines.length > LISTED_PROBLEMS) items.push(Object.assign(document.createElement('li'), { textContent: `… and ${lines.length - LISTED_PROBLEMS} more` }));
    errors.replaceChildren(...items);
  }

  function showRows(examples: Example[]): void {
    const rows = examples.slice(0, TABLE_ROWS).map((ex) => {
      const user = ex.messages.find((m) => m.role === 'user')?.content ?? '';
      const replies = ex.messages.filter((m) => m.role === 'assistant');
      const turns = replies.length > 1 ? ` (+${replies.length - 1} more turns)` : '';
      const tr = document.createElement('tr');
      for (const text of [String(ex.line), user, (replies[0]?.content ?? '') + turns]) {
        const td = document.createElement('td');
        td.textContent = truncate(text, CELL_CHARS);
        td.title = text;
        tr.append(td);
      }
      return tr;
    });
    table.replaceChildren(...rows);
    more.textContent = examples.length > TABLE_ROWS ? `Showing the first ${TABLE_ROWS} of ${examples.length} examples.` : '';
  }

  const parseLater = debounce(parse, 300);
  input.addEventListener('input', () => {
    preset.value = 'custom';
    parseLater();
  });

  function usePreset(name: string): void {
    const p = PRESETS[name];
    if (!p) return;
    input.value = p.text.trimEnd();
    preset.value = name;
    parse();
    onPreset(p.prompt);
  }
  preset.addEventListener('change', () => usePreset(preset.value));

  file.addEventListener('change', async () => {
    const f = file.files?.[0];
    file.value = '';
    if (!f) return;
    try {
      input.value = await f.text();
      preset.value = 'custom';
      parse();
    } catch (e) {
      showProblems([`could not read ${f.name}: ${errorMessage(e)}`]);
    }
  });

  usePreset(DEFAULT_PRESET);
  return {
    flush: parse,
    setText(text) {
      input.value = text;
      preset.value = 'custom';
      parse();
    },
  };
}
