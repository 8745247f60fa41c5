import { useEffect, useRef, useState } from "preact/hooks";
import { login } from "../api/client";

export function LoginPage({ onLogin }: { onLogin(): void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The form starts focused: explicitly, since a browser's own autofocus of an inserted element may come late.
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => { first.current?.focus(); }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true); setError(null);
    try { await login(username, password); onLogin(); } catch (err) { setError((err as Error).message); }
    finally { setBusy(false); }
  };
  return (
    <main>
      <form class="login panel" onSubmit={submit}>
        <h1>Sightline</h1>
        <div class="field"><label for="username">User name</label>
          <input ref={first} id="username" name="username" autoComplete="username" required value={username}
            onInput={(e) => setUsername(e.currentTarget.value)} /></div>
        <div class="field"><label for="password">Password</label>
          <input id="password" name="password" type="password" autoComplete="current-password" required value={password}
            onInput={(e) => setPassword(e.currentTarget.value)} /></div>
        <button class="primary" type="submit" disabled={busy}>Sign in</button>
        {error && <p class="error" role="alert">{error}</p>}
      </form>
    </main>
  );
}
