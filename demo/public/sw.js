// The demo's service worker: keeps the app (HTML, scripts, styles, the worker) in Cache Storage so
// that after one visit online the page loads and trains with the network off.
//
// On install it stores the page and every file of the build (listed in precache.json, which the
// demo's Vite build writes); without that list (the dev server) it stores what the page fetches.
// Requests for the app go to the network first, so an online visit always gets the current files,
// and fall back to the stored copy when the network fails. Model files are not handled here: the
// engine keeps them in their own cache (webgpu-lora-models), downloaded once.
const APP_CACHE = 'webgpu-lora-app-v1';
const APP_DESTINATIONS = new Set(['document', 'script', 'style', 'worker', 'sharedworker', 'manifest', 'image', 'font']);

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(APP_CACHE);
      const scope = self.registration.scope;
      const list = await fetch(new URL('precache.json', scope)).then((r) => (r.ok ? r.json() : []), () => []);
      await cache.addAll([scope, ...list.map((file) => new URL(file, scope).href)]);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const sameOrigin = new URL(req.url).origin === self.location.origin;
  const isApp = req.mode === 'navigate' || APP_DESTINATIONS.has(req.destination);
  if (req.method !== 'GET' || !sameOrigin || !isApp || req.headers.has('range')) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(APP_CACHE);
      try {
        const res = await fetch(req);
        if (res.ok && res.status === 200) await cache.put(req, res.clone());
        return res;
      } catch (e) {
        const hit = (await cache.match(req, { ignoreSearch: req.mode === 'navigate' })) ??
          (req.mode === 'navigate' ? await cache.match(self.registration.scope) : undefined);
        if (hit) return hit;
        throw e;
      }
    })(),
  );
});
