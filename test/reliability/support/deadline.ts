/**
 * The deadline the campaign's calls run under, in a module of its own (no
 * side effects) so the unit tests of the call analysis can import it.
 */

/** The apiserver's per-call KMS deadline (EncryptionConfiguration `timeout`, default 3 s); Status gets it too. */
export const DEADLINE_MS = 3_000;
/**
 * Slack on "fails inside its deadline": the time a call may take to come back
 * after its caller saw the deadline pass (the loadgen's clock starts before
 * the call is queued, and its goroutines need a moment to run).
 */
export const DEADLINE_SLACK_MS = 500;
