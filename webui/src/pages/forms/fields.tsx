// A form generated from the schema: inputs for scalars and lists, fieldsets for objects,
// repeated groups for lists of objects; each input with its error (own pointer or below).
import { FieldError } from '../../api';
import { Draft, errAt, fid, hint, isObjList, isObjSchema, Schema, toDraft } from './schema';

export function Fields(props: { schema: Schema; draft: Draft; ptr: string; prefix: string; errs: FieldError[];
                         onChange: (d: Draft) => void; required?: string[] }) {
  const { schema: s, draft: d, ptr, prefix, errs } = props;
  if (isObjSchema(s)) {
    const o = d as Record<string, Draft>;
    const fields = Object.entries(s.properties!).filter(([, ps]) => !isObjSchema(ps) && !isObjList(ps));
    const groups = Object.entries(s.properties!).filter(([, ps]) => isObjSchema(ps) || isObjList(ps));
    return (
      <>
        <div class="row2">
          {fields.map(([k, ps]) => (
            <Fields schema={ps} draft={o[k] ?? ''} ptr={`${ptr}/${k}`} prefix={prefix} errs={errs} required={s.required}
                    onChange={(v) => props.onChange({ ...o, [k]: v })} />
          ))}
        </div>
        {groups.map(([k, ps]) => (
          <fieldset data-group={`${ptr}/${k}`}>
            <legend>{k}{isObjList(ps) ? '' : ' (optional)'}</legend>
            <Fields schema={ps} draft={o[k]} ptr={`${ptr}/${k}`} prefix={prefix} errs={errs}
                    onChange={(v) => props.onChange({ ...o, [k]: v })} />
          </fieldset>
        ))}
      </>
    );
  }
  if (isObjList(s)) {
    const xs = d as Draft[];
    return (
      <>
        {xs.map((x, i) => (
          <div class="item" data-item={`${ptr}/${i}`}>
            <Fields schema={s.items!} draft={x} ptr={`${ptr}/${i}`} prefix={prefix} errs={errs}
                    onChange={(v) => props.onChange(xs.map((y, j) => (j === i ? v : y)))} />
            {xs.length > (s.minItems ?? 0) && (
              <button type="button" class="small" onClick={() => props.onChange(xs.filter((_, j) => j !== i))}>
                Remove {ptr.split('/').pop()} {i + 1}
              </button>
            )}
          </div>
        ))}
        <button type="button" class="small" onClick={() => props.onChange([...xs, toDraft(s.items!, undefined)])}>
          Add {ptr.split('/').pop()}
        </button>
      </>
    );
  }
  const name = ptr.split('/').pop()!;
  const id = fid(prefix, ptr);
  const mine = errAt(errs, ptr);
  const req = props.required?.includes(name);
  const set = (e: Event) => props.onChange((e.target as HTMLInputElement).value);
  const h = hint(s);
  return (
    <div class="field">
      <label for={id}>{name}{req ? '' : <small class="muted"> (optional)</small>}</label>
      {s.enum ? (
        <select id={id} value={d as string} onChange={set} aria-invalid={mine.length ? 'true' : undefined}
                aria-describedby={mine.length ? `${id}-error` : undefined}>
          <option value="">{req ? 'choose' : '(default)'}</option>
          {s.enum.map((v) => <option value={v}>{v}</option>)}
        </select>
      ) : (
        <input id={id} value={d as string} onInput={set} autocomplete="off" inputMode={s.type === 'integer' ? 'numeric' : undefined}
               aria-invalid={mine.length ? 'true' : undefined}
               aria-describedby={mine.length ? `${id}-error` : h ? `${id}-hint` : undefined} />
      )}
      {h && !mine.length && <small class="muted" id={`${id}-hint`}>{h}</small>}
      {mine.length > 0 && (
        <p class="error" id={`${id}-error`} role="alert" data-field-error={ptr}>{mine.map((e) => e.message).join('; ')}</p>
      )}
    </div>
  );
}
