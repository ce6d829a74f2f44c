import { useEffect, useState } from 'preact/hooks';
import { ApiError, FieldError, request } from '../../api';
import { Change } from './preview';
import { Doc } from './schema';

// "Add a vCPE": name and endpoint (and its LAN) -> the bundle from POST /api/v1/vcpes
// (this CPE's keys, vcpe.toml, cloud-init) to copy or download; then the vCPE's two public
// keys -> the same request with the keys, previewed (dry run) and applied like any change.
// The bundle request changes nothing (docs/API.md "Adding a vCPE").
// The wizard's inputs: the document's errors under /vcpe/N/<key> are shown at them.
export const kWizardKeys = ['name', 'endpoint', 'address', 'subnets', 'public_key', 'report_key'];

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

export function VcpeWizard(props: { doc: Doc; onCancel: () => void; errs: FieldError[]; setErrs: (f: FieldError[]) => void;
                             onReview: (change: Change, what: string) => void }) {
  const [f, setF] = useState({ name: '', endpoint: '', address: '', subnets: '' });
  const [keys, setKeys] = useState({ public_key: '', report_key: '' });
  const [bundle, setBundle] = useState<Bundle | null>(null);
  const [asked, setAsked] = useState<Doc | null>(null); // the request that made `bundle`
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
      setAsked(body);
    } catch (x) {
      if (x instanceof ApiError && x.fields.length) props.setErrs(x.fields);
      else setGeneral(x instanceof Error ? x.message : String(x));
    } finally {
      setBusy(false);
    }
  };
  const request2 = (ev: Event) => {
    ev.preventDefault();
    if (!bundle || !asked) return;
    const local: FieldError[] = [];
    for (const k of ['public_key', 'report_key'] as const) if (!keys[k].trim()) local.push({ field: `/${k}`, message: 'required: paste it from the vCPE' });
    props.setErrs(local);
    if (local.length) return;
    // The same request with the keys: the daemon adds the vCPE as a change (If-Match,
    // dry run, confirm within, comment), docs/API.md "Adding a vCPE".
    const body = { ...asked, public_key: keys.public_key.trim(), report_key: keys.report_key.trim() };
    props.onReview({ method: 'POST', path: '/api/v1/vcpes', body }, `add vCPE ${asked.name}`);
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
