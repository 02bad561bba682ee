// Offline use: the service worker (public/sw.js) keeps the app's own files, so that after one
// visit online the page loads with the network off; model files stay in Cache Storage on their
// own (src/model/cached-source.ts). Registration failures (e.g. a file:// page) only disable that.
export async function registerServiceWorker(): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register(new URL('sw.js', document.baseURI), { scope: './' });
  } catch (e) {
    console.warn(`offline use is not available: ${(e as Error).message}`);
  }
}
