// The <lora-trainer> element's dataset-src attribute: the file fetched, named in every error, its
// format told by its extension (.jsonl/.json → JSONL, .csv → CSV, else detected from the text).

export interface FetchedDataset {
  text: string;
  fileName: string;
  format: 'jsonl' | 'csv' | 'auto';
}

/** The last part of `src`'s path (resolved against `base`): what the element says it fetches. */
export const datasetFileName = (src: string, base: string): string => decodeURIComponent(new URL(src, base).pathname.split('/').pop() || 'dataset');

/** Fetches dataset-src `src` (resolved against `base`); an error names the attribute and the URL. */
export async function fetchDatasetSrc(src: string, base: string): Promise<FetchedDataset> {
  const url = new URL(src, base);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`dataset-src: GET ${url.href} failed: ${(e as Error).message}`);
  }
  if (!res.ok) throw new Error(`dataset-src: GET ${url.href}: HTTP ${res.status} ${res.statusText}`);
  const fileName = datasetFileName(src, base);
  const format = /\.csv$/i.test(fileName) ? 'csv' : /\.jsonl?$/i.test(fileName) ? 'jsonl' : 'auto';
  return { text: await res.text(), fileName, format };
}
