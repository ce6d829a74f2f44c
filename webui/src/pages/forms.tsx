// Per-section forms on the Configuration page (its own chunk, loaded for admins only):
// WAN links, vCPEs (with the "add a vCPE" wizard) and services, each an object of a
// top-level list. The fields are generated from GET /api/v1/config/schema (the same
// schema the daemon publishes for its document), so a key the daemon adds shows up here
// without a UI change. A change is previewed as the diff from the document read to the
// proposed one (jsondiff.ts: computed in the page, the API has no dry-run route) and then
// sent as exactly that JSON Patch with If-Match, optionally "revert unless confirmed
// within N s". The API's field errors (document pointers) are shown at their field.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, FieldError, get, request } from '../api';
import { diff, Op, patchOf, text } from '../jsondiff';
import { Pending, set as setPending } from '../pending';

// ---- the part of JSON Schema that /api/v1/config/schema uses (common/configdb/schema.cpp)
interface Schema {
  type?: string;
  enum?: string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  description?: string;
  pattern?: string;
}

// A form's state mirrors its schema: a string per scalar or list input (as typed),
// an object per section, an array of objects per list of objects.
type Draft = string | { [k: string]: Draft } | Draft[];
type Doc = Record<string, any>;

const isObjSchema = (s: Schema) => s.type === 'object' && !!s.properties;
const isObjList = (s: Schema) => s.type === 'array' && !!s.items && isObjSchema(s.items);

function toDraft(s: Schema, v: unknown): Draft {
  if (isObjSchema(s)) {
    const o: Record<string, Draft> = {};
    for (const [k, ps] of Object.entries(s.properties!)) o[k] = toDraft(ps, (v as Doc | undefined)?.[k]);
    return o;
  }
  if (isObjList(s)) return Array.isArray(v) && v.length ? v.map((x) => toDraft(s.items!, x)) : [toDraft(s.items!, undefined)];
  if (v === undefined || v === null) return '';
  if (s.type === 'array') return (v as unknown[]).join(', ');
  if (s.type === 'object') return Object.entries(v as Doc).map(([k, x]) => `${k}=${x}`).join(', ');
  return String(v);
}

// The draft as JSON, with the checks a schema can make here (the daemon's validator is
// the authority and checks the rest). Empty inputs are left out: the key's default.
// Keys of the original object that the schema does not describe are kept as they were
// (a form never drops what it does not show).
function fromDraft(s: Schema, d: Draft, ptr: string, errs: FieldError[], orig?: unknown): unknown {
  if (isObjSchema(s)) {
    const o: Doc = {};
    const was = orig !== null && typeof orig === 'object' && !Array.isArray(orig) ? (orig as Doc) : {};
    for (const [k, v] of Object.entries(was)) if (!(k in s.properties!)) o[k] = v;
    for (const [k, ps] of Object.entries(s.properties!)) {
      const v = fromDraft(ps, (d as Record<string, Draft>)[k] ?? '', `${ptr}/${k}`, errs, was[k]);
      if (v !== undefined) o[k] = v;
      else if (s.required?.includes(k) && ps.type === 'array' && !ps.minItems && !isObjList(ps)) o[k] = [];
      else if (s.required?.includes(k)) errs.push({ field: `${ptr}/${k}`, message: 'required' });
    }
    return Object.keys(o).length || s.required?.length ? o : undefined;
  }
  if (isObjList(s)) {
    const xs = (d as Draft[]).map((x, i) => fromDraft(s.items!, x, `${ptr}/${i}`, errs, Array.isArray(orig) ? orig[i] : undefined))
      .filter((x) => x !== undefined);
    return xs.length ? xs : undefined;
  }
  const raw = String(d).trim();
  if (raw === '') return undefined;
  const num = (t: string, sch: Schema, at: string): number | undefined => {
    const n = Number(t);
    if (t === '' || !Number.isFinite(n) || (sch.type === 'integer' && !Number.isInteger(n))) {
      errs.push({ field: at, message: sch.type === 'integer' ? 'a whole number' : 'a number' });
      return undefined;
    }
    const lo = sch.minimum ?? sch.exclusiveMinimum, hi = sch.maximum;
    if ((lo !== undefined && (sch.exclusiveMinimum !== undefined ? n <= lo : n < lo)) || (hi !== undefined && n > hi))
      errs.push({ field: at, message: `${sch.exclusiveMinimum !== undefined ? 'more than' : 'from'} ${lo} to ${hi}` });
    return n;
  };
  if (s.type === 'integer' || s.type === 'number') return num(raw, s, ptr);
  if (s.type === 'array') {
    const parts = raw.split(/[\s,]+/).filter(Boolean);
    return parts.map((p) => (s.items?.type === 'integer' || s.items?.type === 'number' ? num(p, s.items, ptr) : p));
  }
  if (s.type === 'object' && typeof s.additionalProperties === 'object') {
    const o: Doc = {};
    for (const part of raw.split(/[\s,]+/).filter(Boolean)) {
      const [k, v] = part.split('=');
      if (!k || v === undefined) errs.push({ field: ptr, message: `"${part}": write name=value` });
      else o[k] = num(v, s.additionalProperties, ptr);
    }
    return o;
  }
  if (s.enum && !s.enum.includes(raw)) errs.push({ field: ptr, message: `one of ${s.enum.join(', ')}` });
  return raw;
}

const fid = (prefix: string, ptr: string) => `${prefix}${ptr.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
const hint = (s: Schema) =>
  s.type === 'array' && !isObjList(s) ? 'comma-separated'
    : s.type === 'object' && !isObjSchema(s) ? 'name=value, comma-separated'
      : s.minimum !== undefined || s.exclusiveMinimum !== undefined ? `${s.minimum ?? s.exclusiveMinimum}..${s.maximum}`
        : s.description ?? '';

// The error for a field: its own pointer or one below it that no other field shows
// (/ports/wan9 is shown at /ports).
const errAt = (errs: FieldError[], ptr: string) => errs.filter((e) => e.field === ptr || e.field.startsWith(ptr + '/'));

function Fields(props: { schema: Schema; draft: Draft; ptr: string; prefix: string; errs: FieldError[];
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

// ---- the diff of a proposed document, then Apply (PATCH with If-Match), confirm-within
export function ChangePreview(props: { ops: Op[]; etag: string; what: string; onCancel: () => void;
                                       onApplied: (rev: number) => void; onFieldErrors: (f: FieldError[]) => void }) {
  const [comment, setComment] = useState(props.what);
  const [useConfirm, setUseConfirm] = useState(true);
  const [within, setWithin] = useState('60');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const apply = async () => {
    const n = Number(within);
    if (useConfirm && !(Number.isInteger(n) && n >= 1 && n <= 3600)) return setError('confirm within: 1..3600 seconds');
    const q = new URLSearchParams();
    if (useConfirm) q.set('confirm_within', String(n));
    if (comment) q.set('comment', comment);
    setBusy(true);
    setError(null);
    try {
      const r = await request<{ revision: number; pending: Pending | null }>('PATCH', `/api/v1/config?${q}`,
        { body: patchOf(props.ops), ifMatch: props.etag });
      setPending(r.data.pending, r.data.revision);
      props.onApplied(r.data.revision);
    } catch (x) {
      if (x instanceof ApiError && x.status === 409) setError('Someone else changed the configuration: cancel, then edit the current one.');
      else setError(x instanceof Error ? x.message : String(x));
      if (x instanceof ApiError) props.onFieldErrors(x.fields);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="preview" role="region" aria-label="Change preview" data-testid="change-preview">
      <h3>Diff to apply <small class="muted">(computed in the page from revision {props.etag.replace(/"/g, '')})</small></h3>
      <pre class="diffbox" data-testid="change-diff">{text(props.ops) || '(no difference)'}</pre>
      <div class="row2">
        <div class="field">
          <label for="chg-comment">Comment</label>
          <input id="chg-comment" value={comment} autocomplete="off" onInput={(e) => setComment((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field">
          <label class="inline"><input type="checkbox" id="chg-confirm" checked={useConfirm}
                 onChange={(e) => setUseConfirm((e.target as HTMLInputElement).checked)} /> Revert unless confirmed within</label>
          <input id="chg-within" type="number" min={1} max={3600} value={within} disabled={!useConfirm} aria-label="seconds to confirm"
                 onInput={(e) => setWithin((e.target as HTMLInputElement).value)} />
        </div>
      </div>
      {error && <p class="error" role="alert" data-testid="change-error">{error}</p>}
      <div class="toolbar">
        <button type="button" onClick={apply} disabled={busy || !props.ops.length} data-testid="change-apply">
          Apply{useConfirm ? ` (confirm within ${within} s)` : ''}
        </button>
        <button type="button" class="secondary" onClick={props.onCancel}>Cancel</button>
      </div>
    </div>
  );
}

// ---- one list of the document (wan, vcpe, service): rows, add / edit / remove
type Section = 'wan' | 'vcpe' | 'service';
const kSections: { key: Section; title: string; label: (x: Doc) => string; summary: (x: Doc) => string }[] = [
  { key: 'wan', title: 'WAN links', label: (x) => x.name, summary: (x) => `${x.interface} via ${x.gateway}` },
  { key: 'vcpe', title: 'vCPEs', label: (x) => x.name, summary: (x) => `${x.endpoint}, ${(x.subnets ?? []).join(' ')}` },
  { key: 'service', title: 'Services', label: (x) => x.id,
    summary: (x) => `${x.vip} ${x.protocol ?? 'tcp'}/${(x.ports ?? []).join(',')}; ${(x.instance ?? []).length} instance(s)` },
];

interface Editing {
  section: Section;
  index: number | null; // null: a new one
  draft: Draft;
}

function proposed(doc: Doc, section: Section, index: number | null, value: unknown | null): Doc {
  const list = [...((doc[section] as unknown[]) ?? [])];
  if (index === null) list.push(value);
  else if (value === null) list.splice(index, 1);
  else list[index] = value;
  return { ...doc, [section]: list };
}

// Every vCPE has one listen port per WAN (`ports`, docs/CONFIG.md), so a WAN added,
// renamed or removed changes the vCPEs' `ports` in the same revision; `add` gives the
// new WAN's port per vCPE name.
function withWanPorts(doc: Doc, oldName: string | null, newName: string | null, add?: Record<string, number>): Doc {
  const vcpes = (doc.vcpe as Doc[] | undefined) ?? [];
  return {
    ...doc,
    vcpe: vcpes.map((v) => {
      const ports: Doc = { ...(v.ports ?? {}) };
      const kept = oldName !== null ? ports[oldName] : undefined;
      if (oldName !== null) delete ports[oldName];
      if (newName !== null) {
        const p = add?.[v.name] ?? kept;
        if (p !== undefined) ports[newName] = p;
      }
      return { ...v, ports };
    }),
  };
}
// The port the enrolment bundle would give a vCPE for the WAN at `index` (cpe/enrol.cpp).
const defaultPort = (index: number) => 51811 + index;

export function Forms(props: { doc: Doc; etag: string; onDone: (rev: number) => void }) {
  const [schema, setSchema] = useState<Schema | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [wizard, setWizard] = useState(false);
  const [errs, setErrs] = useState<FieldError[]>([]);
  const [preview, setPreview] = useState<{ ops: Op[]; what: string; base: string } | null>(null);
  useEffect(() => {
    get<Schema>('/api/v1/config/schema').then(setSchema, (e) => setLoadError(String(e?.message ?? e)));
  }, []);
  if (loadError) return <p class="error card" role="alert">The configuration schema did not load: {loadError}</p>;
  if (!schema) return <p class="muted" aria-busy="true">Loading the forms…</p>;
  const itemSchema = (k: Section) => schema.properties![k].items!;
  const close = () => {
    setEditing(null);
    setWizard(false);
    setPreview(null);
    setErrs([]);
  };
  const applied = (rev: number) => {
    close();
    props.onDone(rev);
  };
  const review = (doc: Doc, what: string, base: string) => {
    setPreview({ ops: diff(props.doc, doc), what, base });
  };
  const [wanPorts, setWanPorts] = useState<Record<string, string>>({});
  const vcpeNames = ((props.doc.vcpe as Doc[] | undefined) ?? []).map((v) => v.name as string);
  const startEdit = (section: Section, index: number | null) => {
    close();
    const v = index === null ? undefined : (props.doc[section] as unknown[])[index];
    setEditing({ section, index, draft: toDraft(itemSchema(section), v) });
    const nw = ((props.doc.wan as unknown[]) ?? []).length;
    setWanPorts(Object.fromEntries(vcpeNames.map((n) => [n, String(defaultPort(nw))])));
  };
  const ptrOf = (e: Editing) => `/${e.section}/${e.index ?? ((props.doc[e.section] as unknown[]) ?? []).length}`;
  const submit = (ev: Event) => {
    ev.preventDefault();
    if (!editing) return;
    const local: FieldError[] = [];
    const ptr = ptrOf(editing);
    const orig = editing.index === null ? undefined : (props.doc[editing.section] as unknown[])[editing.index];
    const v = fromDraft(itemSchema(editing.section), editing.draft, ptr, local, orig);
    const name = (v as Doc | undefined)?.name ?? (v as Doc | undefined)?.id;
    let doc = proposed(props.doc, editing.section, editing.index, v);
    if (editing.section === 'wan' && name) {
      const add: Record<string, number> = {};
      if (editing.index === null)
        vcpeNames.forEach((n, i) => {
          const p = Number(wanPorts[n]);
          if (!Number.isInteger(p) || p < 1 || p > 65535) local.push({ field: `/vcpe/${i}/ports/${name}`, message: 'a port, 1..65535' });
          add[n] = p;
        });
      const old = editing.index === null ? null : (orig as Doc).name;
      if (old !== name) doc = withWanPorts(doc, old, name, add);
    }
    setErrs(local);
    setPreview(null);
    if (local.length) return;
    review(doc, `${editing.index === null ? 'add' : 'edit'} ${editing.section} ${name}`, ptr);
  };
  const remove = (section: Section, index: number) => {
    close();
    const x = (props.doc[section] as Doc[])[index];
    let doc = proposed(props.doc, section, index, null);
    if (section === 'wan') doc = withWanPorts(doc, x.name, null);
    review(doc, `remove ${section} ${x.name ?? x.id}`, `/${section}/${index}`);
  };
  // An error the form has no field for is listed with the preview.
  const newWanName = editing?.section === 'wan' && editing.index === null
    ? String((editing.draft as Record<string, Draft>).name ?? '').trim() : '';
  const portErr = (i: number) => errs.filter((e) => newWanName && e.field === `/vcpe/${i}/ports/${newWanName}`);
  const shownInForm = (e: FieldError) => (!!editing && e.field.startsWith(ptrOf(editing) + '/'))
    || vcpeNames.some((_, i) => portErr(i).includes(e))
    || (wizard && !!preview && kWizardKeys.some((k) => e.field === `${preview.base}/${k}` || e.field.startsWith(`${preview.base}/${k}/`)));
  return (
    <div class="forms" data-admin-control="config-forms">
      {kSections.map(({ key, title, label, summary }) => {
        const list = (props.doc[key] as Doc[] | undefined) ?? [];
        return (
          <section class="card" data-section={key}>
            <h2>{title}</h2>
            <table>
              <thead><tr><th scope="col">Name</th><th scope="col">Summary</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {list.map((x, i) => (
                  <tr data-item={`${key}/${label(x)}`}>
                    <td>{label(x)}</td><td>{summary(x)}</td>
                    <td class="actions">
                      <button type="button" class="small" onClick={() => startEdit(key, i)} aria-label={`Edit ${key} ${label(x)}`}>Edit</button>
                      <button type="button" class="small" onClick={() => remove(key, i)} aria-label={`Remove ${key} ${label(x)}`}>Remove</button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <div class="toolbar">
              {key === 'vcpe'
                ? <button type="button" onClick={() => { close(); setWizard(true); }} data-testid="vcpe-wizard-open">Add a vCPE</button>
                : <button type="button" onClick={() => startEdit(key, null)} data-testid={`add-${key}`}>Add {key === 'wan' ? 'a WAN' : 'a service'}</button>}
            </div>
            {editing?.section === key && (
              <form onSubmit={submit} noValidate data-testid={`form-${key}`} aria-label={`${editing.index === null ? 'New' : 'Edit'} ${key}`}>
                <h3>{editing.index === null ? `New ${key}` : `Edit ${label(list[editing.index])}`}</h3>
                <Fields schema={itemSchema(key)} draft={editing.draft} ptr={ptrOf(editing)} prefix={`f-`} errs={errs}
                        onChange={(d) => setEditing({ ...editing, draft: d })} />
                {key === 'wan' && editing.index === null && vcpeNames.length > 0 && (
                  <fieldset data-group="wan-ports">
                    <legend>Each vCPE's listen port for this WAN</legend>
                    <p class="muted">Added to every vCPE's <code>ports</code> in the same change; each vCPE must listen there too (its vcpe.toml).</p>
                    <div class="row2">
                      {vcpeNames.map((n, i) => {
                        const id = `f-wanport-${n.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
                        const e = portErr(i);
                        return (
                          <div class="field">
                            <label for={id}>{n}</label>
                            <input id={id} value={wanPorts[n] ?? ''} inputMode="numeric" autocomplete="off"
                                   aria-invalid={e.length ? 'true' : undefined} aria-describedby={e.length ? `${id}-error` : undefined}
                                   onInput={(ev) => setWanPorts({ ...wanPorts, [n]: (ev.target as HTMLInputElement).value })} />
                            {e.length > 0 && <p class="error" id={`${id}-error`} role="alert" data-field-error={e[0].field}>{e.map((x) => x.message).join('; ')}</p>}
                          </div>
                        );
                      })}
                    </div>
                  </fieldset>
                )}
                <div class="toolbar">
                  <button type="submit" data-testid="form-preview">Preview the change</button>
                  <button type="button" class="secondary" onClick={close}>Cancel</button>
                </div>
              </form>
            )}
            {key === 'vcpe' && wizard && (
              <VcpeWizard doc={props.doc} onCancel={close} errs={errs} setErrs={setErrs}
                          onReview={(d, what) => review(d, what, `/vcpe/${list.length}`)} />
            )}
            {preview && preview.base.startsWith(`/${key}/`) && (
              <>
                {errs.filter((e) => !shownInForm(e)).length > 0 && (
                  <ul class="errors" data-testid="change-field-errors">
                    {errs.filter((e) => !shownInForm(e)).map((e) => <li class="error" data-field-error={e.field}><code>{e.field}</code>: {e.message}</li>)}
                  </ul>
                )}
                <ChangePreview ops={preview.ops} etag={props.etag} what={preview.what} onCancel={close}
                               onApplied={applied} onFieldErrors={setErrs} />
              </>
            )}
          </section>
        );
      })}
    </div>
  );
}

// ---- "Add a vCPE": name and endpoint (and its LAN) -> the bundle from POST /api/v1/vcpes
// (this CPE's keys, vcpe.toml, cloud-init) to copy or download; then the vCPE's two public
// keys -> the new entry previewed and applied like any change. The bundle request changes
// nothing (docs/API.md "Adding a vCPE").
// The wizard's inputs: the document's errors under /vcpe/N/<key> are shown at them.
const kWizardKeys = ['name', 'endpoint', 'address', 'subnets', 'public_key', 'report_key'];

interface Bundle {
  cpe_public_key: string;
  cpe_report_key: string;
  vcpe: Doc;
  vcpe_toml: string;
  cloud_init: string;
}

function Download(props: { name: string; text: string; type: string; testid: string }) {
  const [url, setUrl] = useState('');
  useEffect(() => {
    const u = URL.createObjectURL(new Blob([props.text], { type: props.type }));
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [props.text]);
  return <a href={url} download={props.name} data-testid={props.testid}>Download {props.name}</a>;
}

function VcpeWizard(props: { doc: Doc; onCancel: () => void; errs: FieldError[]; setErrs: (f: FieldError[]) => void;
                             onReview: (doc: Doc, what: string) => void }) {
  const [f, setF] = useState({ name: '', endpoint: '', address: '', subnets: '' });
  const [keys, setKeys] = useState({ public_key: '', report_key: '' });
  const [bundle, setBundle] = useState<Bundle | null>(null);
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const index = ((props.doc.vcpe as unknown[]) ?? []).length;
  // The enrolment request's fields (/name) and the document's (/vcpe/N/name) land on the same input.
  const errOf = (k: string) => props.errs.filter((e) => e.field === `/${k}` || e.field.startsWith(`/${k}/`)
    || e.field === `/vcpe/${index}/${k}` || e.field.startsWith(`/vcpe/${index}/${k}/`)).map((e) => e.message).join('; ');
  const input = (k: string, label: string, value: string, set: (v: string) => void, help?: string) => {
    const id = `wiz-${k}`;
    const e = errOf(k);
    return (
      <div class="field">
        <label for={id}>{label}</label>
        <input id={id} value={value} autocomplete="off" onInput={(ev) => set((ev.target as HTMLInputElement).value)}
               aria-invalid={e ? 'true' : undefined} aria-describedby={e ? `${id}-error` : help ? `${id}-hint` : undefined} />
        {help && !e && <small class="muted" id={`${id}-hint`}>{help}</small>}
        {e && <p class="error" id={`${id}-error`} role="alert" data-field-error={k}>{e}</p>}
      </div>
    );
  };
  const request1 = async (ev: Event) => {
    ev.preventDefault();
    props.setErrs([]);
    setGeneral(null);
    const local: FieldError[] = [];
    for (const k of ['name', 'endpoint', 'address', 'subnets'] as const) if (!f[k].trim()) local.push({ field: `/${k}`, message: 'required' });
    if (local.length) return props.setErrs(local);
    setBusy(true);
    try {
      const body = { name: f.name.trim(), endpoint: f.endpoint.trim(), address: f.address.trim(),
                     subnets: f.subnets.split(/[\s,]+/).filter(Boolean) };
      setBundle((await request<Bundle>('POST', '/api/v1/vcpes', { body })).data);
    } catch (x) {
      if (x instanceof ApiError && x.fields.length) props.setErrs(x.fields);
      else setGeneral(x instanceof Error ? x.message : String(x));
    } finally {
      setBusy(false);
    }
  };
  const request2 = (ev: Event) => {
    ev.preventDefault();
    if (!bundle) return;
    const local: FieldError[] = [];
    for (const k of ['public_key', 'report_key'] as const) if (!keys[k].trim()) local.push({ field: `/${k}`, message: 'required: paste it from the vCPE' });
    props.setErrs(local);
    if (local.length) return;
    const entry: Doc = { ...bundle.vcpe, public_key: keys.public_key.trim(), report_key: keys.report_key.trim() };
    props.onReview({ ...props.doc, vcpe: [...((props.doc.vcpe as unknown[]) ?? []), entry] }, `add vCPE ${entry.name}`);
  };
  return (
    <div class="wizard" data-testid="vcpe-wizard">
      <h3>Add a vCPE</h3>
      <form onSubmit={request1} noValidate aria-label="The new vCPE">
        <p class="muted">1. The vCPE's name, its public address (the endpoint the CPE's tunnels reach) and its LAN.</p>
        <div class="row2">
          {input('name', 'Name', f.name, (v) => setF({ ...f, name: v }))}
          {input('endpoint', 'Endpoint', f.endpoint, (v) => setF({ ...f, endpoint: v }), 'IP address the CPE reaches')}
          {input('address', 'LAN address', f.address, (v) => setF({ ...f, address: v }), 'the vCPE\'s address on its LAN')}
          {input('subnets', 'Subnets', f.subnets, (v) => setF({ ...f, subnets: v }), 'comma-separated prefixes')}
        </div>
        {general && <p class="error" role="alert">{general}</p>}
        <div class="toolbar">
          <button type="submit" disabled={busy} data-testid="vcpe-bundle">{bundle ? 'Make the bundle again' : 'Make the enrolment bundle'}</button>
          <button type="button" class="secondary" onClick={props.onCancel}>Cancel</button>
        </div>
      </form>
      {bundle && (
        <div data-testid="vcpe-bundle-out">
          <p class="muted">2. Give the vCPE these files (nothing is secret: only public keys). It prints its own two public keys on its console.</p>
          <dl class="keys">
            <dt>This CPE's WireGuard public key</dt><dd><code data-testid="cpe-public-key">{bundle.cpe_public_key}</code></dd>
            <dt>This CPE's report key</dt><dd><code>{bundle.cpe_report_key}</code></dd>
          </dl>
          <figure class="diff">
            <figcaption>vcpe.toml <Download name="vcpe.toml" text={bundle.vcpe_toml} type="application/toml" testid="dl-vcpe-toml" /></figcaption>
            <pre data-testid="vcpe-toml" tabIndex={0}>{bundle.vcpe_toml}</pre>
          </figure>
          <figure class="diff">
            <figcaption>cloud-init <Download name="cloud-init.yaml" text={bundle.cloud_init} type="text/yaml" testid="dl-cloud-init" /></figcaption>
            <pre data-testid="cloud-init" tabIndex={0}>{bundle.cloud_init}</pre>
          </figure>
          <form onSubmit={request2} noValidate aria-label="The vCPE's keys">
            <p class="muted">3. Paste the vCPE's keys (<code>cats-vcpe pubkey</code> and <code>cats-vcpe pubkey --report</code>).</p>
            <div class="row2">
              {input('public_key', 'vCPE WireGuard public key', keys.public_key, (v) => setKeys({ ...keys, public_key: v }))}
              {input('report_key', 'vCPE report key', keys.report_key, (v) => setKeys({ ...keys, report_key: v }))}
            </div>
            <button type="submit" data-testid="vcpe-keys-preview">Preview the change</button>
          </form>
        </div>
      )}
    </div>
  );
}
