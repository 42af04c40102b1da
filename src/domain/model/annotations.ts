import { InvalidRequestError } from './errors.js';
import { ANNOTATIONS_MAX_BYTES, utf8Length } from './limits.js';

/**
 * Annotations travel with the object in etcd, in plaintext (EncryptResponse.annotations in
 * https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/kms/apis/v2/api.proto).
 */
export type Annotations = Readonly<Record<string, Uint8Array>>;

// DNS-1123 label: the rule behind k8s.io/apimachinery IsFullyQualifiedDomainName.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN_MAX = 253;
const DNS_LABEL_MAX = 63;

/**
 * Mirrors the apiserver's annotation-key rule: one optional trailing dot is
 * dropped, then a lowercase DNS-1123 subdomain with at least two labels.
 * So no '/', no uppercase and no '_'.
 */
export function isValidAnnotationKey(key: string): boolean {
  const name = key.endsWith('.') ? key.slice(0, -1) : key;
  if (name.length === 0 || name.length > DNS_SUBDOMAIN_MAX) return false;
  const labels = name.split('.');
  if (labels.length < 2) return false;
  return labels.every((l) => l.length <= DNS_LABEL_MAX && DNS_LABEL.test(l));
}

/** Validates annotations exactly as ValidateEncryptedObject does; throws InvalidRequestError. */
export function validateAnnotations(annotations: Annotations): void {
  let total = 0;
  for (const [key, value] of Object.entries(annotations)) {
    if (!isValidAnnotationKey(key)) {
      throw new InvalidRequestError(
        `annotation key ${JSON.stringify(key)} is not a lowercase fully qualified domain name`,
      );
    }
    total += utf8Length(key) + value.length;
  }
  if (total > ANNOTATIONS_MAX_BYTES) {
    throw new InvalidRequestError(`annotations are ${total} bytes; at most ${ANNOTATIONS_MAX_BYTES} are allowed`);
  }
}

/** Byte-wise equality of two annotation maps. */
export function annotationsEqual(a: Annotations, b: Annotations): boolean {
  const ak = Object.keys(a).sort();
  const bk = Object.keys(b).sort();
  if (ak.length !== bk.length) return false;
  return ak.every((k, i) => {
    const av = a[k];
    const bv = b[bk[i] ?? ''];
    return k === bk[i] && av !== undefined && bv !== undefined && bytesEqual(av, bv);
  });
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
