// The Hugging Face access token field: gated models (Gemma, Llama) download only with the token
// of an account that accepted their terms. The token lives in the field; it is written to this
// browser's localStorage only while "remember on this device" is ticked (unticking removes it),
// and each load hands it to the engine (LoadModelOptions.hfToken), whose downloads send it to
// huggingface.co alone. The note under the field says when the chosen model needs a token and when the Hub
// refused the one given.
import { hubAccessKind, normalizeHubToken } from '../../src/model/hub.js';
import { $, show } from './dom.js';

/** The localStorage key of a remembered token. */
export const TOKEN_STORAGE_KEY = 'webgpu-lora:hf-token';

const IDLE_NOTE = 'Only for gated models. Sent only to huggingface.co with the model downloads; kept in this tab unless you tick "remember".';

export interface HubToken {
  /** The field's token for the next load (undefined: none); throws for a malformed token. */
  value(): string | undefined;
  /** Says whether `model` (a catalogue entry's label, gated or not) needs a token that is missing. */
  chose(model: { label: string; gated: boolean } | null): void;
  /** After a failed load: if the Hub refused access, says why, next to the field. */
  explain(error: string, label: string): void;
}

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled for this page
  }
}

export function initHubToken(): HubToken {
  const field = $<HTMLInputElement>('hf-token');
  const remember = $<HTMLInputElement>('hf-token-remember');
  const note = $('hf-token-note');

  const saved = storage()?.getItem(TOKEN_STORAGE_KEY) ?? null;
  if (saved) {
    field.value = saved;
    remember.checked = true;
  }
  const keep = () => {
    const s = storage();
    if (!s) return;
    if (remember.checked && field.value.trim()) s.setItem(TOKEN_STORAGE_KEY, field.value.trim());
    else s.removeItem(TOKEN_STORAGE_KEY);
  };
  let chosen: { label: string; gated: boolean } | null = null;
  const showChoice = () => {
    if (chosen?.gated && !field.value.trim()) {
      show(note, 'needed', `${chosen.label} is gated: accept its terms on its huggingface.co page (logged in), then paste an access token from huggingface.co/settings/tokens here.`);
    } else show(note, 'idle', IDLE_NOTE);
  };
  field.addEventListener('input', () => (keep(), showChoice()));
  remember.addEventListener('change', keep);
  showChoice();

  return {
    value: () => normalizeHubToken(field.value) ?? undefined,
    chose(model) {
      chosen = model;
      showChoice();
    },
    explain(error, label) {
      const kind = hubAccessKind(error);
      if (kind === 'gated') show(note, 'needed', `${label} needs a Hugging Face access token: the Hub answered that this model is gated (or private). Paste a token of an account that accepted its terms.`);
      else if (kind === 'token-refused') show(note, 'refused', `The Hub refused this token for ${label}: check that it is valid and that its account accepted the model's terms.`);
    },
  };
}
