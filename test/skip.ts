/** Test names that carry the reason a case is skipped, so a JUnit report shows why. */

/** `name`, with `[skipped: reason]` appended when `skip` holds. */
export function skipName(name: string, skip: boolean, reason: string): string {
  return skip ? `${name} [skipped: ${reason}]` : name;
}
