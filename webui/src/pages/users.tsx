// Accounts. Everyone may read the list; only an admin sees the form (a viewer would get a
// 403 from it, so it is not shown at all).
import { useEffect, useState } from 'preact/hooks';
import { api, get, Session } from '../api';
import { Field, splitError } from '../form';

interface User {
  name: string;
  role: string;
  created_ms: number;
  disabled: boolean;
}

function AddUser(props: { onAdded: () => void }) {
  const [name, setName] = useState('');
  const [role, setRole] = useState('viewer');
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | undefined>();
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await api('POST', '/api/v1/users', { name, role, password });
      setName('');
      setPassword('');
      setErrors({});
      setGeneral(undefined);
      props.onAdded();
    } catch (err) {
      const s = splitError(err, ['name', 'role', 'password']);
      setErrors(s.byField);
      setGeneral(s.general);
    }
  };
  return (
    <form class="card" onSubmit={submit} noValidate data-admin-control="add-user">
      <h2>Add a user</h2>
      <Field id="new-name" label="Name" value={name} onInput={setName} error={errors.name} autocomplete="off" />
      <div class="field">
        <label for="new-role">Role</label>
        <select id="new-role" value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value)}>
          <option value="viewer">viewer</option>
          <option value="admin">admin</option>
        </select>
      </div>
      <Field id="new-password" label="Password (at least 12 characters)" type="password" value={password}
             onInput={setPassword} error={errors.password} autocomplete="new-password" />
      {general && <p class="error" role="alert">{general}</p>}
      <button type="submit">Add user</button>
    </form>
  );
}

export function Users(props: { session: Session }) {
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    get<{ users: User[] }>('/api/v1/users').then(
      (r) => setUsers(r.users),
      (e) => setError(String(e.message ?? e)),
    );
  useEffect(() => void load(), []);
  return (
    <div class="users">
      <section class="card">
        <h2>Users</h2>
        {error && <p class="error" role="alert">{error}</p>}
        <table>
          <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">State</th></tr></thead>
          <tbody>
            {(users ?? []).map((u) => (
              <tr data-user={u.name}>
                <td>{u.name}</td><td>{u.role}</td><td>{new Date(u.created_ms).toLocaleString()}</td>
                <td>{u.disabled ? 'disabled' : 'active'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {props.session.role === 'admin' && <AddUser onAdded={load} />}
    </div>
  );
}
