// The forms' model (forms/index.tsx): the part of JSON Schema that
// GET /api/v1/config/schema uses, a form's draft (strings as typed) and its conversion
// to and from the document, with the checks a schema can make in the page.
import { FieldError } from '../../api';

// The part of JSON Schema that /api/v1/config/schema uses (common/configdb/schema.cpp).
export interface Schema {
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
export type Draft = string | { [k: string]: Draft } | Draft[];
export type Doc = Record<string, any>;

export const isObjSchema = (s: Schema) => s.type === 'object' && !!s.properties;
export const isObjList = (s: Schema) => s.type === 'array' && !!s.items && isObjSchema(s.items);

export function toDraft(s: Schema, v: unknown): Draft {
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

const blank = (d: Draft): boolean =>
  typeof d === 'string' ? d.trim() === '' : Array.isArray(d) ? d.every(blank) : Object.values(d).every(blank);

// The draft as JSON, with the checks a schema can make here (the daemon's validator is
// the authority and checks the rest). Empty inputs are left out: the key's default.
// Keys of the original object that the schema does not describe are kept as they were
// (a form never drops what it does not show).
export function fromDraft(s: Schema, d: Draft, ptr: string, errs: FieldError[], orig?: unknown): unknown {
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
    // A row left empty in a list that may be empty (an instance's prometheus sources) is
    // no item, not an item missing its required fields.
    const xs = (d as Draft[])
      .map((x, i) => (!s.minItems && blank(x) ? undefined
        : fromDraft(s.items!, x, `${ptr}/${i}`, errs, Array.isArray(orig) ? orig[i] : undefined)))
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

export const fid = (prefix: string, ptr: string) => `${prefix}${ptr.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
export const hint = (s: Schema) =>
  s.type === 'array' && !isObjList(s) ? 'comma-separated'
    : s.type === 'object' && !isObjSchema(s) ? 'name=value, comma-separated'
      : s.minimum !== undefined || s.exclusiveMinimum !== undefined
        ? `${s.minimum ?? s.exclusiveMinimum}..${s.maximum}${s.description ? `: ${s.description}` : ''}`
        : s.description ?? '';

// The error for a field: its own pointer or one below it that no other field shows
// (/ports/wan9 is shown at /ports).
export const errAt = (errs: FieldError[], ptr: string) => errs.filter((e) => e.field === ptr || e.field.startsWith(ptr + '/'));
