// A count in words, for messages: "1 step", "2 steps", "199,000 examples" (digits grouped, the
// noun singular only for exactly one).

/** `n` and the noun, e.g. countOf(1, 'step') = '1 step', countOf(199000, 'example') = '199,000 examples'. */
export function countOf(n: number, singular: string, plural = `${singular}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? singular : plural}`;
}
