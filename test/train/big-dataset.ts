// The large dataset of the load tests (test/train/large-dataset.test.ts, test/e2e/cli-large-dataset.test.ts):
// n JSONL lines of about 250 bytes each, short stories as in the report that motivated them
// (172,741 short lines, 50 MB); 200,000 lines are about 50 MB.

export function bigJsonl(n: number): string {
  const lines: string[] = new Array(n);
  for (let k = 0; k < n; k++) {
    lines[k] = JSON.stringify({
      input: `Once upon a time there was a little girl number ${k} who liked the sun, the sea, the birds and the big green tree on the hill.`,
      output: `She played in the park with her dog every day and they were happy ${k % 97}. The end of the story came soon after.`,
    });
  }
  return lines.join('\n');
}
