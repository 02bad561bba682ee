// A Cache Storage stand-in for the tests of cachedUrlSource in Node (which has no `caches`): what
// cachedUrlSource needs of it (open, match, put), installed on globalThis while fn runs.

export async function withFakeCaches(fn: () => Promise<void>): Promise<void> {
  const store = new Map<string, Response>();
  const cache = {
    match: async (url: string) => store.get(url)?.clone(),
    put: async (url: string, res: Response) => void store.set(url, new Response(await res.arrayBuffer(), { headers: res.headers })),
  };
  const g = globalThis as { caches?: unknown };
  const before = g.caches;
  g.caches = { open: async () => cache };
  try {
    await fn();
  } finally {
    g.caches = before;
  }
}
