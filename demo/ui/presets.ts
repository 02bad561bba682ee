// The example datasets that ship with the demo (demo/examples/*.jsonl), each with a prompt that is
// not in its data, to compare the base and the fine-tuned model on.
import koSupport from '../examples/ko-support.jsonl?raw';
import enSupport from '../examples/en-support.jsonl?raw';

export interface Preset {
  label: string;
  text: string;
  /** A question of the same kind that the dataset does not contain. */
  prompt: string;
}

export const PRESETS: Record<string, Preset> = {
  'ko-support': {
    label: 'Korean customer support (하루마켓)',
    text: koSupport,
    prompt: '주문한 가방이 일주일째 도착하지 않았어요. 확인 부탁드립니다.',
  },
  'en-support': {
    label: 'English customer support (Brightcart)',
    text: enSupport,
    prompt: 'My headphones stopped working after two days. What can I do?',
  },
};

export const DEFAULT_PRESET = 'ko-support';
