import { BackendMisconfiguredError } from '../../../domain/model/errors.js';
import type { DelineaApi } from './delinea.api.js';
import type { DelineaCallFailure } from './delinea.errors.js';

/**
 * One text field of one Secret Server secret, read and written through the REST API
 * (Secret Server REST API reference, "Secrets": `GET /api/v1/secrets/{id}/fields/{slug}` returns
 * the field's value as a JSON string; `PUT /api/v1/secrets/{id}/fields/{slug}` with
 * `{"value": "..."}` replaces it;
 * https://docs.delinea.com/online-help/secret-server/api-scripting/rest-api/index.htm; the
 * fields path is the one Delinea's Go SDK uses, github.com/DelineaXPM/tss-sdk-go server/server.go
 * uploadFile). The secret
 * itself is created by an operator from a template with a multi-line text field (e.g. the
 * "Notes" field of the built-in templates); kleidi only ever writes that one field.
 */
export class SecretField {
  constructor(
    private readonly api: DelineaApi,
    readonly secretId: number,
    readonly slug: string,
  ) {}

  /** `secret <id> field <slug>`, for messages. */
  get where(): string {
    return `Secret Server secret ${this.secretId} field ${this.slug}`;
  }

  private get path(): string {
    return `/api/v1/secrets/${this.secretId}/fields/${encodeURIComponent(this.slug)}`;
  }

  async read(signal: AbortSignal): Promise<string> {
    const reply = await this.api.call(
      { method: 'GET', path: this.path },
      `reading ${this.where}`,
      signal,
      this.meaning,
    );
    return fieldValue(reply.body, this.where);
  }

  async write(value: string, signal: AbortSignal): Promise<void> {
    const body = JSON.stringify({ value });
    const req = { method: 'PUT' as const, path: this.path, headers: { 'content-type': 'application/json' }, body };
    await this.api.call(req, `writing ${this.where}`, signal, this.meaning);
  }

  /** A 404 on this path means the secret or the field is gone: say which and what to do. */
  private readonly meaning = {
    404: (f: DelineaCallFailure) =>
      new BackendMisconfiguredError(
        `${this.where} does not exist (deleted, or its template has no field ${this.slug}); restore the secret ` +
          '(Secret Server keeps deleted secrets restorable) or fix delinea.secretId / delinea.field',
        { cause: f },
      ),
  };
}

/** The field value from a fields answer: a JSON string, or the raw body if it is not one. */
function fieldValue(body: string, where: string): string {
  if (body === '') return '';
  try {
    const v: unknown = JSON.parse(body);
    if (typeof v === 'string') return v;
    if (v === null) return '';
  } catch {
    return body;
  }
  throw new BackendMisconfiguredError(`${where} did not answer with a text value`);
}
