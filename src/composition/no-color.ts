/** NO_COLOR set to anything but "" turns colours off (https://no-color.org/). */
export function noColor(env: Readonly<Record<string, string | undefined>>): boolean {
  return (env.NO_COLOR ?? '') !== '';
}
