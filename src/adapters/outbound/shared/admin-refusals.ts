import { OperationUnsupportedError } from '../../../domain/model/errors.js';

/**
 * Why a backend whose key versions live on one server (Vault, the clouds, Delinea) has no
 * two-phase rotation: every node asks that server, so a rotation reaches every node at once and
 * there is no copy that could arrive late (docs/operations.md, two-phase rotation).
 */
function noStaging(backend: string): OperationUnsupportedError {
  return new OperationUnsupportedError(
    `the ${backend} backend keeps its key versions on its server, where every node sees a rotation at once; ` +
      'two-phase rotation (--stage/--promote) is for backends whose keys are copied between nodes: use `kleidi rotate`',
  );
}

/** `stage` and `promote` of a backend without staging: both refuse with noStaging, changing nothing. */
export function refuseStaging(admin: { readonly backend: string }): () => Promise<never> {
  return () => Promise.reject(noStaging(admin.backend));
}

/** A backend that cannot retire versions (yet) says so instead of pretending; `why` says what stops it. */
export function noRetire(backend: string, why?: string): OperationUnsupportedError {
  return new OperationUnsupportedError(`the ${backend} backend cannot retire key versions${why ? ` (${why})` : ''}`);
}
