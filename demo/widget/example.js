// The example page's event log: what a host page hears from <lora-trainer> (a file, not an
// inline script: the page works under a strict Content-Security-Policy).
const log = document.getElementById('log');
const write = (line) => { log.textContent += `${line}\n`; };
const trainer = document.querySelector('lora-trainer');
trainer.addEventListener('progress', (e) => write(`progress step ${e.detail.step}/${e.detail.totalSteps} loss ${e.detail.loss.toFixed(2)}`));
trainer.addEventListener('trained', (e) => write(`trained ${e.detail.steps} steps, final loss ${e.detail.trainLoss.toFixed(2)}${e.detail.cancelled ? ' (stopped)' : ''}`));
trainer.addEventListener('exported', (e) => {
  const names = Object.keys(e.detail.files).join(' ');
  write(`exported ${names} (${e.detail.zip.size} bytes)`);
});
trainer.addEventListener('error', (e) => write(`error ${e.detail.message}`));
