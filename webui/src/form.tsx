// A labelled input with its error right under it (the API's field errors, docs/API.md).
import { useState } from 'preact/hooks';
import { ApiError } from './api';

export function Field(props: {
  id: string;
  label: string;
  type?: string;
  value: string;
  onInput: (v: string) => void;
  error?: string;
  autocomplete?: string;
  minLength?: number;
  // An error about this field shown elsewhere (a login's "wrong user name or password",
  // which names no field): the field is marked invalid and described by it.
  describedBy?: string;
}) {
  const errId = `${props.id}-error`;
  const describedBy = props.error ? errId : props.describedBy;
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input id={props.id} name={props.id} type={props.type ?? 'text'} value={props.value}
             autocomplete={props.autocomplete} minLength={props.minLength} required
             aria-invalid={describedBy ? 'true' : undefined} aria-describedby={describedBy}
             onInput={(e) => props.onInput((e.target as HTMLInputElement).value)} />
      {props.error && <p class="error" id={errId} role="alert">{props.error}</p>}
    </div>
  );
}

// Field errors by body field, and the message when no field was named.
export function splitError(e: unknown, fields: string[]): { byField: Record<string, string>; general?: string } {
  if (!(e instanceof ApiError)) return { byField: {}, general: String(e) };
  const byField: Record<string, string> = {};
  for (const f of fields) {
    const m = e.field(f);
    if (m) byField[f] = m;
  }
  return Object.keys(byField).length ? { byField } : { byField, general: e.message };
}

// A form's send step: its errors by field and the general one. send(fn) runs the request;
// on success the errors are cleared, on failure the API's field errors go to their fields
// (those in `fields`), anything else to the general message. Returns whether it succeeded.
export function useFormSend(fields: string[]) {
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | undefined>();
  const send = async (fn: () => Promise<void>): Promise<boolean> => {
    try {
      await fn();
      setErrors({});
      setGeneral(undefined);
      return true;
    } catch (err) {
      const s = splitError(err, fields);
      setErrors(s.byField);
      setGeneral(s.general);
      return false;
    }
  };
  // An error found before sending (a local check), shown like the API's.
  const fail = (byField: Record<string, string>) => {
    setErrors(byField);
    setGeneral(undefined);
  };
  return { errors, general, send, fail };
}
