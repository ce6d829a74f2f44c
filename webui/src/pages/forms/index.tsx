// Per-section forms on the Configuration page (its own chunk, loaded for admins only):
// WAN links, vCPEs (with the "add a vCPE" wizard) and services, each an object of a
// top-level list; the selection and probing settings, each one object. The fields are generated from GET /api/v1/config/schema (the same
// schema the daemon publishes for its document), so a key the daemon adds shows up here
// without a UI change. A change is the whole proposed document (PUT, or the keyed "add a
// vCPE" request), previewed by the daemon's dry run (?dry_run=1: its checks, its field
// errors, its diff) and then sent again as is with the same If-Match, optionally "revert
// unless confirmed within N s". The API's field errors (document pointers) are shown at
// their field.
import { useEffect, useRef, useState } from 'preact/hooks';
import { FieldError, get } from '../../api';
import { Fields } from './fields';
import { Change, ChangePreview } from './preview';
import { Doc, Draft, fromDraft, isObjSchema, Schema, toDraft } from './schema';
import { kWizardKeys, VcpeWizard } from './wizard';

// One list of the document (wan, vcpe, service): rows, add / edit / remove
type Section = 'wan' | 'vcpe' | 'service';
const kSections: { key: Section; title: string; label: (x: Doc) => string; summary: (x: Doc) => string }[] = [
  { key: 'wan', title: 'WAN links', label: (x) => x.name, summary: (x) => `${x.interface} via ${x.gateway}` },
  { key: 'vcpe', title: 'vCPEs', label: (x) => x.name, summary: (x) => `${x.endpoint}, ${(x.subnets ?? []).join(' ')}` },
  { key: 'service', title: 'Services', label: (x) => x.id,
    summary: (x) => `${x.vip} ${x.protocol ?? 'tcp'}/${(x.ports ?? []).join(',')}; ${(x.instance ?? []).length} instance(s)` },
];

// The settings objects of the document, each edited as one form (the schema's object).
type Setting = 'selection' | 'probing';
const kSettings: { key: Setting; title: string }[] = [
  { key: 'selection', title: 'Selection settings' },
  { key: 'probing', title: 'Probing settings' },
];
// A setting's scalars as "key=value" (objects and lists are in the form).
const settingSummary = (v: unknown) => Object.entries((v as Doc | undefined) ?? {})
  .filter(([, x]) => x === null || typeof x !== 'object').map(([k, x]) => `${k}=${x}`).join(', ');

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

// The schema is the daemon's build's: read once per page load, so the forms come back
// without a "Loading" state (and without moving the focus) when the page is opened again.
let schemaRead: Schema | null = null;

export function Forms(props: { doc: Doc; etag: string; onDone: (rev: number) => void }) {
  const [schema, setSchema] = useState<Schema | null>(schemaRead);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [setting, setSetting] = useState<{ key: Setting; draft: Draft } | null>(null);
  const [wizard, setWizard] = useState(false);
  const [errs, setErrs] = useState<FieldError[]>([]);
  // `n` remounts the preview (a new dry run) for every request, even an equal one.
  const [preview, setPreview] = useState<{ change: Change; what: string; base: string; n: number } | null>(null);
  const previews = useRef(0);
  const [wanPorts, setWanPorts] = useState<Record<string, string>>({});
  useEffect(() => {
    if (schemaRead) return;
    get<Schema>('/api/v1/config/schema').then((x) => setSchema((schemaRead = x)), (e) => setLoadError(String(e?.message ?? e)));
  }, []);
  if (loadError) return <p class="error card" role="alert">The configuration schema did not load: {loadError}</p>;
  if (!schema) return <p class="muted" aria-busy="true">Loading the forms…</p>;
  const itemSchema = (k: Section) => schema.properties![k].items!;
  const close = () => {
    setEditing(null);
    setSetting(null);
    setWizard(false);
    setPreview(null);
    setErrs([]);
  };
  const applied = (rev: number) => {
    close();
    props.onDone(rev);
  };
  // The whole proposed document (PUT): the daemon diffs it against the revision read
  // (If-Match) and restores the secrets it redacted.
  const review = (change: Change, what: string, base: string) => {
    setPreview({ change, what, base, n: ++previews.current });
  };
  const reviewDoc = (doc: Doc, what: string, base: string) => review({ method: 'PUT', path: '/api/v1/config', body: doc }, what, base);
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
    reviewDoc(doc, `${editing.index === null ? 'add' : 'edit'} ${editing.section} ${name}`, ptr);
  };
  const remove = (section: Section, index: number) => {
    close();
    const x = (props.doc[section] as Doc[])[index];
    let doc = proposed(props.doc, section, index, null);
    if (section === 'wan') doc = withWanPorts(doc, x.name, null);
    reviewDoc(doc, `remove ${section} ${x.name ?? x.id}`, `/${section}/${index}`);
  };
  const startSetting = (key: Setting) => {
    close();
    setSetting({ key, draft: toDraft(schema.properties![key], props.doc[key]) });
  };
  const submitSetting = (ev: Event) => {
    ev.preventDefault();
    if (!setting) return;
    const local: FieldError[] = [];
    const ptr = `/${setting.key}`;
    const v = fromDraft(schema.properties![setting.key], setting.draft, ptr, local, props.doc[setting.key]);
    setErrs(local);
    setPreview(null);
    if (local.length) return;
    // Nothing set: the key stays absent if it was (all defaults), else an empty object.
    const doc: Doc = { ...props.doc };
    if (v !== undefined) doc[setting.key] = v;
    else if (setting.key in doc) doc[setting.key] = {};
    reviewDoc(doc, `edit ${setting.key}`, ptr);
  };
  // An error the form has no field for is listed with the preview.
  const newWanName = editing?.section === 'wan' && editing.index === null
    ? String((editing.draft as Record<string, Draft>).name ?? '').trim() : '';
  const portErr = (i: number) => errs.filter((e) => newWanName && e.field === `/vcpe/${i}/ports/${newWanName}`);
  const shownInForm = (e: FieldError) => (!!editing && e.field.startsWith(ptrOf(editing) + '/'))
    || (!!setting && e.field.startsWith(`/${setting.key}/`))
    || vcpeNames.some((_, i) => portErr(i).includes(e))
    || (wizard && !!preview && kWizardKeys.some((k) => [`${preview.base}/${k}`, `/${k}`].some((f) => e.field === f || e.field.startsWith(`${f}/`))));
  // Every form's apply step (the lists' and the settings'): the errors the form has no
  // field for, then the daemon's dry run of the change with Apply.
  const applyBlock = (pv: NonNullable<typeof preview>) => {
    const loose = errs.filter((e) => !shownInForm(e));
    return (
      <>
        {loose.length > 0 && (
          <ul class="errors" data-testid="change-field-errors">
            {loose.map((e) => <li class="error" data-field-error={e.field} key={`${e.field}|${e.message}`}><code>{e.field}</code>: {e.message}</li>)}
          </ul>
        )}
        <ChangePreview key={pv.n} change={pv.change} etag={props.etag} what={pv.what} onCancel={close}
                       onApplied={applied} onFieldErrors={setErrs} />
      </>
    );
  };
  return (
    <div class="forms" data-admin-control="config-forms">
      {kSections.map(({ key, title, label, summary }) => {
        const list = (props.doc[key] as Doc[] | undefined) ?? [];
        return (
          <section class="card" data-section={key} key={key}>
            <h2>{title}</h2>
            <table>
              <thead><tr><th scope="col">Name</th><th scope="col">Summary</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {list.map((x, i) => (
                  <tr data-item={`${key}/${label(x)}`} key={label(x)}>
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
                          onReview={(c, what) => review(c, what, `/vcpe/${list.length}`)} />
            )}
            {preview && preview.base.startsWith(`/${key}/`) && applyBlock(preview)}
          </section>
        );
      })}
      {kSettings.map(({ key, title }) => {
        const sch = schema.properties?.[key];
        if (!sch || !isObjSchema(sch)) return null;
        return (
          <section class="card" data-section={key} key={key}>
            <h2>{title}</h2>
            <p class="muted" data-testid={`summary-${key}`}>{settingSummary(props.doc[key]) || '(all defaults)'}</p>
            {setting?.key !== key && (
              <div class="toolbar">
                <button type="button" onClick={() => startSetting(key)} data-testid={`edit-${key}`}>Edit {key} settings</button>
              </div>
            )}
            {setting?.key === key && (
              <form onSubmit={submitSetting} noValidate data-testid={`form-${key}`} aria-label={`Edit ${key} settings`}>
                <Fields schema={sch} draft={setting.draft} ptr={`/${key}`} prefix="f-" errs={errs}
                        onChange={(d) => setSetting({ ...setting, draft: d })} />
                <div class="toolbar">
                  <button type="submit" data-testid="form-preview">Preview the change</button>
                  <button type="button" class="secondary" onClick={close}>Cancel</button>
                </div>
              </form>
            )}
            {preview && preview.base === `/${key}` && applyBlock(preview)}
          </section>
        );
      })}
    </div>
  );
}
